"""The Windows .exe's entry script (PyInstaller runs a script, not a module): the same `main` as
`python -m ukey_helper`. When the helper stops on an error, the console window waits for Enter, so that a
customer who double-clicked it can read why before the window closes."""

import sys

from ukey_helper.__main__ import main

if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # shown to the customer; the window would otherwise vanish with it
        print(f"证书助手已停止：{error}", file=sys.stderr)
        input("按回车键关闭窗口…")
        sys.exit(1)
