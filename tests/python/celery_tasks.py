"""The README's Celery recipe, as a module a worker loads (`celery -A celery_tasks worker`).
The broker URL comes from CELERY_BROKER_URL when it is set (Celery reads it itself), so the
test can name the port its server listens on; the rest is the recipe as written."""

import os
import time
from pathlib import Path

import kombu.asynchronous.aws.connection
from celery import Celery

# kombu's SQS transport checks TLS against botocore's bundled CA file, not AWS_CA_BUNDLE:
# give it the CA that `sluice serve` printed.
kombu.asynchronous.aws.connection.get_cert_path = lambda verify: os.environ["AWS_CA_BUNDLE"]

app = Celery("tasks", broker="sqs://127.0.0.1:9324")
app.conf.broker_transport_options = {
    "is_secure": True,
    # Seconds before an unacknowledged task is delivered again (Celery's default is 30 minutes).
    "visibility_timeout": 5,
    "wait_time_seconds": 1,
}
# Acknowledge (delete) a task's message after it ran, so a worker that dies mid-task leaves
# the message to reappear.
app.conf.task_acks_late = True

# Where the test's tasks record what they did.
OUT = Path(os.environ.get("CELERY_TEST_OUT", "."))


@app.task
def record(n):
    with open(OUT / "done", "a") as f:
        f.write(f"{n}\n")


@app.task
def hang():
    """Hangs on its first delivery (the test kills the worker then); returns on the next."""
    log = OUT / "hang"
    first = not log.exists()
    with open(log, "a") as f:
        f.write("started\n")
    if first:
        time.sleep(600)
    with open(log, "a") as f:
        f.write("finished\n")
