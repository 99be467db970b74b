import logging

from celery import shared_task

logger = logging.getLogger(__name__)

SEND_BATCH_TASK = "campaigns.send_batch"


@shared_task(name=SEND_BATCH_TASK, ignore_result=True)
def send_batch_task() -> None:
    # Placeholder until the campaigns issue lands the send batch service.
    logger.warning("send batch placeholder: the campaigns send batch is not built yet; nothing was sent")
