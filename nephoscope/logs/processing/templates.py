"""Online template mining: a masked message to a template id that stays the same across restarts.

Masking (``masks.py``) takes out nearly every variable part, so most masked messages *are*
their template and are looked up in a dictionary. A masked message never seen before goes
through a Drain-like clustering step that catches what the masks could not (host names,
odd identifiers): it is compared with the templates of the same length and first word, and
joins the most similar one when

* a word meets only itself: where either holds a plain word both hold the same one (words are
  the template: "spawn" and "destroy" never merge), except at a ``<*>`` that stands for words
  (below), and
* at least ``similarity`` of the positions are equal;

the differing positions then become ``<*>``. Otherwise it founds a new template.

Words are the template, except where a position holds *many* words: a format string with a word
argument (a filter, a periodic task, a method, a state) writes a different word at one place
with everything else the same. Templates that differ only at one or two word positions are
kept together by their *shape* (the template with its other values blanked); once a position
has held ``WORD_PARAMETER`` distinct words across templates of one shape *written by one logger*
(one module: a call site writes its word argument from one place, while "Disabled <x>
extension." written by many extension modules is many format strings), those templates merge
into the oldest one with ``<*>`` there. Fewer distinct words stay separate templates: "VM
Paused" and "VM Resumed" are two events to an operator (Loghub's annotators agree; nova writes
four lifecycle words there). When the lines name their call site (oslo.log's DEBUG suffix:
``funcName path:line``), the origin is that call site, and one call site is one format string:
its templates of one length merge as soon as there are two, wherever they differ. A merged template's id becomes an *alias* of the one it merged
into (``canonical``); lines already given the old id keep it, later ones get the survivor's.

A template's id is a hash of the text it was founded with, so it never changes when the
template generalises later, and ids are the same on every node that saw the same first
message. ``save``/``load`` keep the templates and, per template, the distinct masked messages
already assigned to it (up to ``MEMBERS_KEPT``), so after a restart the same message gets the
same id without depending on the order of arrival.

Exact templates (oslo.log JSON lines carry their format string, ``msg``) are registered as
such and never clustered.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from nephoscope.logs.processing.masks import WILDCARD

STATE_FORMAT = "nephoscope.logs.templates"  # the saved state's format name (not the module's path): kept as saved files carry it
STATE_VERSION = 1
MEMBERS_KEPT = 32
WORD_PARAMETER = 5  # distinct words at one position of one shape that make it a parameter
_PAIR_WORDS = 16  # templates with more words register single positions only (pairs grow quadratically)
# Words a shape must keep besides its blanked positions: "Processing image <*>" is a shape, "<*> <*>" is not.
_KEPT_WORDS = {1: 2, 2: 3}
_BLANK = "\x00"
_MOD = (1 << 61) - 1
_BLANK_HASH = hash(_BLANK) & _MOD


@functools.lru_cache(maxsize=512)
def _power(position: int) -> int:
    return pow(1_000_003, position, _MOD)


# Shapes remembered (their words and templates) before that memory starts afresh: about 200 bytes
# each, ~25 per template (10,000 templates: ~360,000 shapes, ~75 MB).
SHAPES_KEPT = 500_000

# A plain word: a letter, then letters, digits, - _ ' (and Python's leading underscores), perhaps
# in brackets or a leading double quote, perhaps followed by punctuation. A token in matching quotes is a value ('%s' is oslo's convention).
_WORD = re.compile(r"[(\[{\"]?_*[A-Za-z][A-Za-z0-9_'-]*[)\]}\"]?[.,:;!?)\]]*\Z")
# Names joined with :: . or ( - code, not values - when they hold no digit (host names and versions do).
_COMPOUND = re.compile(r"[(\[{\"]?_*[A-Za-z][A-Za-z_]*(?:(?:::|\.|\()_*[A-Za-z][A-Za-z_]*)+[)\]}\"]?[.,:;!?)\]]*\Z")
_QUOTED = re.compile(r"(['\"]).*\1[.,:;!?)\]]*\Z")
# Runs of values (lists of ids or paths) count as one value, whatever their length.
_WILDCARD_RUN = re.compile(r"<\*>(?:[\s,;]*<\*>)+")


class Template(msgspec.Struct):
    """One template as saved: its id, current text, kind (``mined`` or ``exact``), how many
    records it matched, and masked messages known to belong to it."""

    id: str
    text: str
    kind: str = "mined"
    count: int = 0
    members: list[str] = []
    aliases: list[str] = []  # ids of templates merged into this one (a word position became a parameter)
    word_slots: list[int] = []  # positions that became parameters because they held many words
    origin: str | None = None  # the logger of the message that founded it


class _State(msgspec.Struct):
    format: str
    version: int
    similarity: float
    templates: list[Template]


def template_id(text: str, kind: str = "mined") -> str:
    """The id of a template founded with ``text``: 16 hex digits of BLAKE2b."""
    seed = text if kind == "mined" else f"{kind}\x00{text}"
    return hashlib.blake2b(seed.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


# ``key=<*>``: the key is the template's own text (masks take the value), so the token is a word.
_KEY = re.compile(r"[A-Za-z_][\w.-]*=<\*>[.,:;)\]]*\Z")


@functools.lru_cache(maxsize=1 << 16)
def is_word(token: str) -> bool:
    """Whether a token is constant text: a plain word, a compound name of letters (``data_motion::_failover``,
    ``_delete_snapshot(Snapshot``) or a masked ``key=<*>`` pair."""
    return ((_WORD.match(token) is not None or _COMPOUND.match(token) is not None) and _QUOTED.match(token) is None) \
        or _KEY.match(token) is not None


def normalize(masked: str) -> list[str]:
    """The tokens a masked message is compared by."""
    return _WILDCARD_RUN.sub(WILDCARD, masked).split()


def _key(tokens: list[str]) -> tuple[int, str]:
    """The index bucket of a template: its length and first word (``<*>`` when it starts with a value)."""
    return len(tokens), tokens[0] if tokens and is_word(tokens[0]) else WILDCARD


class _Cluster:
    __slots__ = ("template", "tokens")

    def __init__(self, template: Template, tokens: list[str]) -> None:
        self.template = template
        self.tokens = tokens


class TemplateMiner:
    """Assigns template ids to masked messages. Thread-safe: one lock around every change."""

    def __init__(self, similarity: float = 0.5, cache_size: int = 1_000_000) -> None:
        if not 0.0 < similarity <= 1.0:
            raise ValueError(f"similarity must be in (0, 1], not {similarity}")
        self.similarity = similarity
        self.cache_size = cache_size
        self._clusters: dict[str, _Cluster] = {}
        self._index: dict[tuple[int, str], list[_Cluster]] = {}
        self._cache: dict[str, str] = {}  # masked message (or exact template) -> id
        self._alias: dict[str, str] = {}  # id of a merged template -> the id it merged into
        # shape (tokens, one or two word positions blanked) -> the words seen there and its templates
        # hash of a shape (tokens, one or two word positions blanked) -> (origin, word(s) there, template)
        # of each template filed under it
        self._shapes: dict[int, tuple | list[tuple[str | None, str, _Cluster]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ assignment
    def assign(self, masked: Sequence[str | None],
               origins: Sequence[str | None] | None = None) -> tuple[list[str], list[bool]]:
        """Template id of each masked message, and whether that message founded a new template.
        ``origins``: who wrote each message, the logger or its call site ``logger@path:line`` (word
        positions become parameters per origin)."""
        ids: list[str] = []
        new: list[bool] = []
        with self._lock:
            for number, text in enumerate(masked):
                text = text or ""
                known = self._cache.get(text)
                if known is not None:
                    if self._alias:
                        known = self._alias.get(known, known)
                    ids.append(known)
                    new.append(False)
                    continue
                identifier, founded = self._cluster(text, origins[number] if origins is not None else None)
                self._remember(text, identifier)
                ids.append(identifier)
                new.append(founded)
        return ids, new

    def assign_exact(self, texts: Sequence[str]) -> tuple[list[str], list[bool]]:
        """Ids of exact templates (format strings), registering the ones not seen before."""
        ids: list[str] = []
        new: list[bool] = []
        with self._lock:
            for text in texts:
                key = "\x00exact\x00" + text
                known = self._cache.get(key)
                if known is None:
                    known = template_id(text, "exact")
                    founded = known not in self._clusters
                    if founded:
                        self._clusters[known] = _Cluster(Template(known, text, "exact"), [])
                    self._remember(key, known)
                    ids.append(known)
                    new.append(founded)
                else:
                    ids.append(known)
                    new.append(False)
        return ids, new

    def _remember(self, text: str, identifier: str) -> None:
        if len(self._cache) >= self.cache_size:
            self._cache.clear()  # rebuilt from the clusters on demand; cheap compared with unbounded growth
        self._cache[text] = identifier
        members = self._clusters[identifier].template.members
        if len(members) < MEMBERS_KEPT and text not in members and not text.startswith("\x00exact\x00"):
            members.append(text)

    def _cluster(self, masked: str, origin: str | None = None) -> tuple[str, bool]:
        tokens = normalize(masked)
        key = _key(tokens)
        best, best_score = None, -1.0
        buckets = [self._index.get(key, ())]
        if key[1] != WILDCARD:  # a template whose first word became a parameter is filed under <*>
            buckets.append(self._index.get((key[0], WILDCARD), ()))
        for bucket in buckets:
            for cluster in bucket:
                score = self._score(tokens, cluster.tokens, cluster.template.word_slots)
                if score is not None and score > best_score:
                    best, best_score = cluster, score
        if best is not None and best_score >= self.similarity:
            if best.tokens != tokens:
                self._generalize(best, [mine if mine == theirs else WILDCARD for mine, theirs in zip(best.tokens, tokens)])
            return best.template.id, False
        text = " ".join(tokens)
        identifier = template_id(text)
        while identifier in self._clusters or identifier in self._alias:  # a hash collision: vanishingly rare, but never merge silently
            identifier = template_id(identifier + text)
        cluster = _Cluster(Template(identifier, text, origin=origin), tokens)
        self._clusters[identifier] = cluster
        self._index.setdefault(key, []).append(cluster)
        survivor = self._register(cluster)
        return (survivor.template.id if survivor is not None else identifier), True

    def _generalize(self, cluster: _Cluster, tokens: list[str]) -> None:
        """Give ``cluster`` new tokens, moving it to its new index bucket if its first token changed."""
        before, after = _key(cluster.tokens), _key(tokens)
        cluster.tokens = tokens
        cluster.template.text = " ".join(tokens)
        if before != after:
            self._index[before].remove(cluster)
            self._index.setdefault(after, []).append(cluster)

    def _register(self, cluster: _Cluster) -> _Cluster | None:
        """File a new template under its shapes; when a shape's position has now held
        ``WORD_PARAMETER`` distinct words from one origin, merge that shape's templates. Returns the
        survivor of a merge ``cluster`` took part in, else None."""
        tokens = cluster.tokens
        origin = cluster.template.origin
        if len(self._shapes) >= SHAPES_KEPT:
            self._shapes.clear()  # bounded memory: what a shape had seen is learnt again
        if origin is not None and "@" in origin:  # a call site ("logger@path:line"): one format string
            members = self._shapes.setdefault(hash((_BLANK, origin, len(tokens))), [])
            members.append((origin, "", cluster))
            return self._merge([m for _, _, m in members], (), members) if len(members) > 1 else None
        words = [i for i, token in enumerate(tokens) if token != WILDCARD and is_word(token)]
        if not words:
            return None
        word_set = set(words)
        # a shape's key is a polynomial hash of its tokens, blanks included: O(1) per shape
        # (a shape of a 40-token template would otherwise cost 40 tokens to build and hash)
        weights = [(hash(token if i in word_set else WILDCARD) & _MOD) * _power(i) % _MOD for i, token in enumerate(tokens)]
        whole = sum(weights) % _MOD
        length = len(tokens)
        survivor = None
        # every word position (values at a position that becomes a parameter join through _merge)
        if len(words) - 1 >= _KEPT_WORDS[1]:
            for i in words:
                members = self._file(hash((length, i, (whole - weights[i] + _BLANK_HASH * _power(i)) % _MOD)),
                                     (origin, tokens[i], cluster))
                if survivor is None and members is not None and self._enough(members, origin, 0):
                    survivor = self._merge([m for _, _, m in members], (i,), members)
        # and pairs of word positions (two word arguments in one format string)
        if _KEPT_WORDS[2] <= len(words) - 2 and len(words) <= _PAIR_WORDS:
            for n, i in enumerate(words):
                for j in words[n + 1:]:
                    shape = (whole - weights[i] - weights[j] + _BLANK_HASH * (_power(i) + _power(j))) % _MOD
                    members = self._file(hash((length, i, j, shape)), (origin, tokens[i] + _BLANK + tokens[j], cluster))
                    if survivor is None and members is not None and self._enough(members, origin, 2):
                        survivor = self._merge([m for _, _, m in members], (i, j), members)
        return survivor

    def _file(self, shape: int, entry: tuple[str | None, str, _Cluster]) -> list | None:
        """File ``entry`` under ``shape``; the shape's entries once it has two or more (most shapes
        only ever have one: it is kept as a bare tuple, a third of the memory of a list of one)."""
        members = self._shapes.get(shape)
        if members is None:
            self._shapes[shape] = entry
            return None
        if isinstance(members, tuple):
            members = self._shapes[shape] = [members]
        members.append(entry)
        return members

    @staticmethod
    def _enough(members: list[tuple[str | None, str, _Cluster]], origin: str | None, pair: int) -> bool:
        """Whether ``origin`` wrote ``WORD_PARAMETER`` distinct words at the shape's position(s)."""
        if len(members) < WORD_PARAMETER:
            return False
        words = [word for who, word, _ in members if who == origin and word]
        if pair:
            halves = [word.split(_BLANK) for word in words]
            return len({h[0] for h in halves}) >= WORD_PARAMETER and len({h[1] for h in halves}) >= WORD_PARAMETER
        return len(set(words)) >= WORD_PARAMETER

    def _merge(self, clusters: list[_Cluster], positions: tuple[int, ...],
               members: list[tuple[str | None, str, _Cluster]]) -> _Cluster | None:
        """Merge the live templates among ``clusters`` into the oldest, ``<*>`` at ``positions`` and
        wherever they differ; ``members``, the shape's list, keeps only the survivor's entries."""
        live = [m for m in clusters if m.template.id in self._clusters]
        if not live:
            members.clear()
            return None
        survivor = live[0]
        tokens = list(survivor.tokens)
        for position in positions:
            tokens[position] = WILDCARD
        for other in live[1:]:
            tokens = [mine if mine == theirs else WILDCARD for mine, theirs in zip(tokens, other.tokens)]
        # the positions that now take words: those given, and those where the members' words differed
        survivor.template.word_slots = sorted({*survivor.template.word_slots, *positions, *(
            i for i, token in enumerate(tokens) if token == WILDCARD and any(is_word(m.tokens[i]) for m in live))})
        self._generalize(survivor, tokens)
        # templates the survivor now covers are the same template: equal everywhere but where it has
        # <*> and they have a value (words come in only through the shape, from one origin)
        key = _key(survivor.tokens)
        kept = sum(1 for token in survivor.tokens if token != WILDCARD and is_word(token))
        merging = {id(m) for m in live}
        for bucket in {key, (key[0], WILDCARD)} if kept >= _KEPT_WORDS[1] else ():
            for cluster in self._index.get(bucket, ()):
                if id(cluster) not in merging and all(
                        mine == theirs or (mine == WILDCARD and not is_word(theirs))
                        for mine, theirs in zip(survivor.tokens, cluster.tokens)):
                    live.append(cluster)
                    merging.add(id(cluster))
        for other in live[1:]:
            self._index[_key(other.tokens)].remove(other)
            del self._clusters[other.template.id]
            for alias in (other.template.id, *other.template.aliases):
                self._alias[alias] = survivor.template.id
            survivor.template.count += other.template.count
            survivor.template.aliases = sorted({*survivor.template.aliases, other.template.id, *other.template.aliases})
            for member in other.template.members:
                if len(survivor.template.members) < MEMBERS_KEPT and member not in survivor.template.members:
                    survivor.template.members.append(member)
        members[:] = [entry for entry in members if entry[2] is survivor][:1]
        return survivor

    @staticmethod
    def _score(tokens: list[str], template: list[str], word_slots: list[int]) -> float | None:
        """The share of equal positions, or None when the message cannot belong to the template: a
        word where the template has other text, or where its ``<*>`` stands for values (not words)."""
        if not tokens:
            return 1.0
        same = 0
        for position, (mine, theirs) in enumerate(zip(tokens, template)):
            if mine == theirs:
                same += 1
            elif theirs == WILDCARD:
                if is_word(mine) and position not in word_slots:
                    return None
            elif is_word(mine) or is_word(theirs):
                return None
        return same / len(tokens)

    # ------------------------------------------------------------------ queries
    def canonical(self, identifier: str) -> str:
        """The id a template now answers to: its own, or the one it merged into."""
        return self._alias.get(identifier, identifier)

    def aliases_of(self, identifier: str) -> list[str]:
        """The ids merged into the template ``identifier`` now answers to (its lines stored before a
        merge carry them)."""
        with self._lock:
            cluster = self._clusters.get(self._alias.get(identifier, identifier))
            return list(cluster.template.aliases) if cluster else []

    def text(self, identifier: str) -> str | None:
        cluster = self._clusters.get(self._alias.get(identifier, identifier))
        return cluster.template.text if cluster else None

    def texts(self, identifiers: Iterable[str]) -> list[str | None]:
        with self._lock:
            return [self.text(identifier) for identifier in identifiers]

    def add_counts(self, identifiers: Iterable[str], counts: Iterable[int]) -> None:
        with self._lock:
            for identifier, count in zip(identifiers, counts):
                cluster = self._clusters.get(self._alias.get(identifier, identifier))
                if cluster is not None:
                    cluster.template.count += int(count)

    def templates(self) -> list[Template]:
        with self._lock:
            return [msgspec.structs.replace(c.template, members=list(c.template.members),
                                            aliases=list(c.template.aliases))
                    for c in self._clusters.values()]

    def __len__(self) -> int:
        return len(self._clusters)

    def __contains__(self, identifier: str) -> bool:
        return identifier in self._clusters or identifier in self._alias

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> bytes:
        state = _State(STATE_FORMAT, STATE_VERSION, self.similarity, self.templates())
        return msgspec.json.format(msgspec.json.encode(state), indent=1)

    def save(self, path: str | Path) -> None:
        """Write the state atomically (temporary file, then rename)."""
        path = Path(path)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(self.to_json())
        temporary.replace(path)

    @classmethod
    def from_json(cls, data: bytes | str, cache_size: int = 1_000_000) -> TemplateMiner:
        try:
            state = msgspec.json.decode(data, type=_State)
        except msgspec.DecodeError as error:
            raise ValueError(f"not a template state file: {error}") from None
        if state.format != STATE_FORMAT or state.version != STATE_VERSION:
            raise ValueError(f"template state is {state.format!r} version {state.version}, "
                             f"expected {STATE_FORMAT!r} version {STATE_VERSION}")
        miner = cls(state.similarity, cache_size)
        for template in state.templates:
            tokens = template.text.split() if template.kind == "mined" else []
            cluster = _Cluster(template, tokens)
            miner._clusters[template.id] = cluster
            if template.kind == "mined":
                miner._index.setdefault(_key(tokens), []).append(cluster)
                miner._register(cluster)
                for member in template.members:
                    miner._cache[member] = template.id
                for alias in template.aliases:
                    miner._alias[alias] = template.id
            else:
                miner._cache["\x00exact\x00" + template.text] = template.id
        return miner

    @classmethod
    def load(cls, path: str | Path, cache_size: int = 1_000_000) -> TemplateMiner:
        return cls.from_json(Path(path).read_bytes(), cache_size)
