"""Set a Keystone up from nothing (run with the Keystone venv's Python, not ours).

``python keystone_setup.py CONFIG URL PASSWORD``: ``keystone-manage db_sync``, ``fernet_setup``,
``credential_setup`` and ``bootstrap`` (admin user, project, roles and the identity endpoint at
URL), in one process: Keystone's imports cost more than the steps themselves.
"""

import sys


def main() -> None:
    config, url, password = sys.argv[1:4]
    from keystone import conf
    from keystone.cmd import cli

    owner = ["--keystone-user", "root", "--keystone-group", "root"]
    steps = [["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner],
             ["bootstrap", "--bootstrap-password", password, "--bootstrap-admin-url", url,
              "--bootstrap-public-url", url, "--bootstrap-internal-url", url, "--bootstrap-region-id", "RegionOne"]]
    for step in steps:
        conf.CONF.reset()
        conf.CONF.clear()
        cli.main(argv=["keystone-manage", "--config-file", config, *step])
    print("bootstrapped", flush=True)


if __name__ == "__main__":
    main()
