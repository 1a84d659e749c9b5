"""`python -m ukey_helper [--config helper.json] [--port N]`: serve on 127.0.0.1 only (DESIGN §7).
`--version` prints the helper's version, `--help` the options.

The packaged helper (the Windows .exe, the .pyz) reads the `helper.json` beside its own file when `--config` is not
given, so that a double-click starts it with the settings downloaded next to it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from waitress import serve

from ukey_helper import __version__
from ukey_helper.app import create_helper_app
from ukey_helper.config import KEYS, HelperConfig
from ukey_helper.store import default_data_dir

CONFIG_NAME = "helper.json"


def packaged_config() -> Path | None:
    """`helper.json` beside the packaged helper's file (a PyInstaller .exe, a shiv .pyz), when there is one."""
    if getattr(sys, "frozen", False):
        program = Path(sys.executable)
    elif sys.argv and sys.argv[0].endswith(".pyz"):
        program = Path(sys.argv[0])
    else:
        return None
    beside = program.resolve().parent / CONFIG_NAME
    return beside if beside.is_file() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ukey_helper", description=f"数安CA管家 证书助手 {__version__}",
                                     epilog="The environment variables of the same names override the file.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", help=f"JSON file with any of {', '.join(KEYS)} (packaged: {CONFIG_NAME} "
                                         "beside the program when omitted)")
    parser.add_argument("--port", type=int, help="overrides HELPER_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config_path = args.config or packaged_config()
    cfg = HelperConfig.load(config_path)
    if args.port:
        cfg.port = args.port
    cfg.data_dir = cfg.data_dir or str(default_data_dir())
    app = create_helper_app(cfg)
    logging.getLogger("ukey_helper").info("helper %s listening on http://127.0.0.1:%d (config: %s; modules: %s; "
                                          "data: %s)", __version__, cfg.port,
                                          config_path or "defaults and environment", ", ".join(cfg.modules),
                                          cfg.data_dir)
    # One token operation at a time is enforced by the token lock; a few threads keep health checks answering.
    serve(app, host="127.0.0.1", port=cfg.port, threads=4, ident="ukey-helper")


if __name__ == "__main__":
    main()
