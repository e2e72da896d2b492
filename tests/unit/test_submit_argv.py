"""spark-submit's command line carries no password or key: any user's `ps` shows it. The secret
settings go to a 0600 properties file that spark-submit reads (--properties-file)."""
from __future__ import annotations

import stat

from stack import job
from stack.settings import REPO_ROOT, load_settings

SECRETS = {"CDC_PG_PASSWORD": "pg-Pw=1 \\x", "CDC_S3_SECRET_KEY": "s3/Secret+Key", "CDC_S3_ACCESS_KEY": "AKIA-test-id"}


def test_no_secret_on_the_command_line_and_a_private_properties_file(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = load_settings({**SECRETS, "CDC_STATE_DIR": str(tmp_path)})
    argv = job.submit_argv(settings, "local[2]", REPO_ROOT / "conf" / "pipeline.yaml")
    command_line = " ".join(argv)
    for value in SECRETS.values():
        assert value not in command_line
    path = job.secrets_file(settings, job.STREAM)
    assert argv[argv.index("--properties-file") + 1] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())
    assert entries and all(job.SECRET_CONF.search(key) for key in entries)
    assert entries["spark.sql.catalog.lake.jdbc.password"] == "pg-Pw=1 \\\\x"  # Properties escapes "\"
    assert "s3/Secret+Key" in entries.values() and "AKIA-test-id" in entries.values()
    assert any(a.startswith("spark.sql.catalog.lake.jdbc.user=") for a in argv)  # the rest stays on it


def test_an_existing_secrets_file_is_made_private_again(tmp_path):
    path = tmp_path / "run" / "x.secrets.properties"
    path.parent.mkdir()
    path.write_text("old")
    path.chmod(0o644)
    job.write_secrets_file(path, {"a.password": " lead\nline"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "a.password=\\ lead\\nline\n"
