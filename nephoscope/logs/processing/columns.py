"""Small helpers over Arrow string columns that the parsers share.

Every function here is columnar: it runs Arrow compute kernels (C++, RE2 for regular
expressions) or NumPy over a whole batch; none loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def string_array(lines: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.StringArray:
    """``lines`` as one contiguous ``string`` array (lists, chunked and large strings accepted)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    elif not isinstance(lines, pa.Array):
        lines = pa.array(lines, pa.string())
    if lines.type == pa.large_string() or pa.types.is_string_view(lines.type):
        lines = lines.cast(pa.string())
    elif lines.type in (pa.binary(), pa.large_binary()):
        lines = lines.cast(pa.string())  # raises on invalid UTF-8: decode with errors="replace" first
    if lines.null_count:
        lines = pc.fill_null(lines, "")
    return lines


def list_item(parts: pa.Array, index: int, width: int | None = None) -> pa.Array:
    """Element ``index`` of every list in ``parts`` (null where a list is shorter or null),
    without the out-of-bounds error ``list_element`` raises on short lists. One gather of the
    chosen strings; ``width`` is accepted for symmetry with the callers and ignored."""
    del width
    if isinstance(parts, pa.ChunkedArray):
        parts = parts.combine_chunks()
    offsets = parts.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    position = offsets[:-1] + index
    present = position < offsets[1:]
    if parts.null_count:
        present &= parts.is_valid().to_numpy(zero_copy_only=False)
    selector = pa.array(np.where(present, position, 0), pa.int64(), mask=~present)
    return parts.values.take(selector)


def null_if(values: pa.Array, *empty: str) -> pa.Array:
    """``values`` with the given placeholder strings (e.g. ``""``, ``"-"``, ``"None"``) as nulls."""
    mask = pc.is_in(values, value_set=pa.array(list(empty), pa.string()))
    return pc.if_else(mask, pa.scalar(None, values.type), values)


def choose(mask: pa.Array, when_true: pa.Array | pa.Scalar, when_false: pa.Array | pa.Scalar) -> pa.Array:
    """``if_else`` that skips the copy when the mask is all true or all false (the usual case:
    a batch from one file has one shape). Nulls in ``mask`` count as false."""
    mask = pc.fill_null(mask, False)
    if mask.true_count == len(mask) and isinstance(when_true, pa.Array):
        return when_true
    if mask.true_count == 0 and isinstance(when_false, pa.Array):
        return when_false
    return pc.if_else(mask, when_true, when_false)


def control_bytes_possible(values: pa.Array) -> bool:
    """Whether the strings may hold a byte below 0x20 (newline, carriage return, the masks'
    separators...). One NumPy pass over the data buffer instead of one substring scan per byte;
    false positives (a tab, bytes outside a slice) only mean the caller checks exactly."""
    if len(values) == 0:
        return False
    data = values.buffers()[2]
    if data is None or data.size == 0:
        return False
    return bool(np.frombuffer(data, np.uint8).min() < 0x20)


def where(mask: pa.Array | np.ndarray, values: pa.Array, otherwise: pa.Array | None = None) -> pa.Array:
    """``values`` where ``mask``, else ``otherwise`` (null when not given)."""
    if isinstance(mask, np.ndarray):
        mask = pa.array(mask)
    if otherwise is None:
        otherwise = pa.scalar(None, values.type)
    return pc.if_else(mask, values, otherwise)


def scatter(base: pa.Array, positions: np.ndarray, values: pa.Array | Sequence) -> pa.Array:
    """``base`` with the rows at ``positions`` (ascending) replaced by ``values``, in order."""
    if len(positions) == 0:
        return base
    mask = np.zeros(len(base), bool)
    mask[positions] = True
    if not isinstance(values, pa.Array):
        values = pa.array(values, base.type)
    elif values.type != base.type:
        values = values.cast(base.type)
    if pa.types.is_list(base.type) or pa.types.is_struct(base.type):
        # replace_with_mask has no kernel for nested types: gather from both instead
        index = np.arange(len(base), dtype=np.int64)
        index[positions] = len(base) + np.arange(len(positions), dtype=np.int64)
        return pa.concat_arrays([base, values]).take(pa.array(index))
    return pc.replace_with_mask(base, pa.array(mask), values)


def spread(values: pa.Array, positions: np.ndarray, length: int) -> pa.Array:
    """An array of ``length`` nulls with ``values`` placed at ``positions`` (ascending)."""
    return scatter(pa.nulls(length, values.type), positions, values)


def map_distinct(values: pa.Array, function: Callable[[str | None], object], result_type: pa.DataType) -> pa.Array:
    """``function`` applied once per distinct value (Python, but per distinct value only), then
    spread back to every row. For columns with few distinct values: file names, loggers."""
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([function(value) for value in encoded.dictionary.to_pylist()], result_type)
    return mapped.take(encoded.indices)


def to_numpy_int(values: pa.Array, missing: int = -1, dtype=np.int64) -> np.ndarray:
    """Integers (or digit strings) as a NumPy array, nulls and unparsable values as ``missing``."""
    if pa.types.is_string(values.type):
        digits = pc.match_substring_regex(values, r"^\d{1,18}$")
        values = pc.if_else(digits, values, pa.scalar(None, pa.string())).cast(pa.int64())
    return pc.fill_null(values.cast(pa.int64()), missing).to_numpy(zero_copy_only=False).astype(dtype, copy=False)


def indices_where(mask: pa.Array | np.ndarray) -> np.ndarray:
    """Row numbers where a boolean column is true (nulls count as false)."""
    if isinstance(mask, (pa.Array, pa.ChunkedArray)):
        mask = pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return np.flatnonzero(mask)
