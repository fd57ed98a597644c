"""Entry point of the desktop app (`healthqa-desktop`)."""

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication(sys.argv if argv is None else argv)
    label = QLabel("HealthQA")
    label.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
