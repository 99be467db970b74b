"""The embedded broker (filesystem://) never hands a worker a message still being written (config/broker.py)."""

import json
from queue import Empty

import pytest
from kombu import Connection

import config.celery  # noqa: F401 (makes filesystem:// our transport)
from config.broker import Transport


@pytest.fixture
def channel(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path), "store_processed": False}
    with Connection("filesystem://", transport_options=options) as connection:
        yield connection.default_channel


def test_filesystem_urls_use_the_whole_message_transport(channel):
    assert isinstance(channel.connection, Transport)


def test_a_message_appears_under_its_queue_name_only_when_whole(channel, tmp_path):
    channel._put("celery", {"body": "x" * 10_000})

    [written] = list(tmp_path.iterdir())
    assert written.name.endswith(".celery.msg")
    assert json.loads(written.read_bytes()) == {"body": "x" * 10_000}
    assert channel._get("celery") == {"body": "x" * 10_000}


def test_a_message_being_written_is_not_taken(channel, tmp_path):
    (tmp_path / "1_abc.celery.msg.part").write_bytes(b"")  # what a producer leaves while it writes

    with pytest.raises(Empty):
        channel._get("celery")
    assert (tmp_path / "1_abc.celery.msg.part").exists()
