"""No credentials in the repository: scan every tracked (and new, unignored) file.

Secrets reach the code only from environment variables, which production fills
from Kubernetes secrets (see helm/). A value that looks like a real credential
in a file fails this test with its file and line.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key\W{0,4}[:=]\W{0,4}[A-Za-z0-9/+]{40}\b"
    ),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH )?PRIVATE KEY-----"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@"),
    "literal password/secret/token": re.compile(
        r"(?i)\b[\w.-]*(?:password|passwd|secret|token|api_?key)[\w.-]*[\"']?\s*[:=]\s*"
        r"[\"']([^\"'\s]{8,})[\"']"
    ),
}

# A value that points elsewhere (environment, template, secret reference) is not a secret,
# nor is one that says it is a fake (test fixtures' throwaway credentials, docs' examples).
PLACEHOLDER = re.compile(
    r"^(?:\$\{.*\}|\$\(.*\)|\$[A-Z_]+|\{\{.*\}\}|<[^>]+>|%\(.*\)s|\*+|x+|"
    r"pass|password|secret|token|"
    r".*(?:example|placeholder|changeme|redacted|dummy|your[-_]|test|fake|sentinel).*)$",
    re.IGNORECASE,
)

# Deliberate exceptions (file, value), each with its reason; none needed today.
ALLOWED: set[tuple[str, str]] = set()
SKIP_SUFFIXES = {".gz", ".png", ".jpg", ".nc", ".parquet", ".msgpack", ".lock", ".ico", ".woff2"}


def project_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [p for p in out if Path(p).suffix not in SKIP_SUFFIXES and (ROOT / p).is_file()]


def find_secrets(text: str, rel: str) -> list[str]:
    hits = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.group(1) if match.groups() else match.group(0)
                if PLACEHOLDER.match(value) or (rel, value) in ALLOWED:
                    continue
                if kind == "literal password/secret/token" and not re.search(r"\d", value):
                    continue  # words (names of keys, env variables), not values
                hits.append(f"{rel}:{lineno}: {kind}: {value[:6]}...")
    return hits


def test_no_credentials_in_tracked_files():
    files = project_files()
    assert "helm/code-location/values.yaml" in files and "pyproject.toml" in files
    hits = []
    for rel in files:
        try:
            text = (ROOT / rel).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += find_secrets(text, rel)
    assert not hits, "credential-looking values in the repository:\n" + "\n".join(hits)


@pytest.mark.parametrize(
    "line",
    [
        "aws_access_key_id = " + "AKIA" + "Q3ZP7KW2ZZ9AJ4MB",
        "SLACK_TOKEN=" + "xo" + "xb-1234567890-abcdefghij",
        "url: postgresql://dagster:" + "s3cr3tPassw0rd" + "@db:5432/dagster",
        'password: "' + "hunter2hunter2" + '"',
        "-----BEGIN " + "RSA PRIVATE KEY-----",
    ],
)
def test_scanner_catches_credentials(line):
    assert find_secrets(line, "x.yaml")


@pytest.mark.parametrize(
    "line",
    [
        "url: postgresql://dagster:${DAGSTER_PG_PASSWORD}@db:5432/dagster",
        "password: {{ .Values.postgresql.password }}",
        "key: AWS_SECRET_ACCESS_KEY",
        "secretKeyRef: {name: rt-secrets, key: slack-token}",
    ],
)
def test_scanner_accepts_references(line):
    assert not find_secrets(line, "x.yaml")
