"""Write ``demo_project/.env`` with fresh random secrets, unless it already exists.

Run by ``make demo`` before Django starts; it imports nothing from Django.
"""

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent / ".env"


def main() -> None:
    if ENV_FILE.exists():
        return
    ENV_FILE.write_text(
        "# Written by 'make demo' for local development only. Do not use in production.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"OAUTH_CC_KEY_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
    )
    ENV_FILE.chmod(0o600)
    print(f"Wrote {ENV_FILE} with fresh development keys.")


if __name__ == "__main__":
    main()
