"""kombu's filesystem transport (the embedded run's broker), with each message written whole before it is seen.

kombu writes a message straight into the queue folder under its final name,
so a worker polling at that moment can move and read the file before its
bytes are in it, and dies on an empty message (JSONDecodeError: "Unrecoverable
error"; seen in CI, under load, in tests/e2e/test_campaign_flow.py). Here the
message is written to a name the consumer skips (`<name>.part`: kombu's `_get`
takes only `<time>_<uuid>.<queue>.msg`) and renamed into place, which is atomic
within the folder. config/celery.py makes `filesystem://` use this transport.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
