"""Atomic writes and secret redaction: the two promises every file in a run dir rests on."""

from __future__ import annotations

import os

import pytest

from expkit import fsutil
from expkit.redact import redact_argv, redact_env, redact_url, scrub, secret_values


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    fsutil.atomic_write_json(path, {"state": "running"})

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        fsutil.atomic_write_json(path, {"state": "succeeded", "padding": "x" * 100000})
    assert fsutil.read_json(path) == {"state": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left behind


def test_redaction_of_env_argv_urls():
    assert redact_env({"WANDB_API_KEY": "k", "HF_TOKEN": "t", "DB_PASSWORD": "p", "LR": "0.1"}) == {
        "WANDB_API_KEY": "***", "HF_TOKEN": "***", "DB_PASSWORD": "***", "LR": "0.1"}
    assert redact_argv(["train.py", "--api-key", "abc", "--token=xyz", "db.password=hunter2", "--lr", "3"]) == [
        "train.py", "--api-key", "***", "--token=***", "db.password=***", "--lr", "3"]
    assert redact_url("https://user:ghp_abc@github.com/o/r.git") == "https://***@github.com/o/r.git"
    assert redact_url("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_scrub_replaces_secret_values_anywhere():
    values = secret_values({"WANDB_API_KEY": "supersecret", "PATH": "/usr/bin"})
    assert values == ["supersecret"]
    assert scrub({"a": ["x supersecret y", 1]}, values) == {"a": ["x *** y", 1]}
    assert scrub(b"supersecret!", values) == b"***!"
