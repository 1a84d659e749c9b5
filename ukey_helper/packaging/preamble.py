"""Run by the single-file helper (a shiv zipapp) before the helper starts: the file carries compiled modules for
one Python version (its name says which, e.g. `py311` for Python 3.11), so say so plainly when this Python is
another one instead of failing with an import error."""

import sys

try:
    import pkcs11._pkcs11  # noqa: F401  (the compiled PKCS#11 binding, the part that needs the matching Python)
except ImportError as error:
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    sys.exit(f"证书助手无法在 Python {running} 上运行：请使用文件名中标明的 Python 版本"
             f"（如 py311 即 Python 3.11），或下载适合本机的版本。\n({error})")
