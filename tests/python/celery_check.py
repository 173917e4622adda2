"""A Celery worker against `sluice serve` (AWS_* from its printed exports): 100 tasks run
once each and leave no message behind; a late-acknowledged task whose worker is killed -9
runs again after its visibility timeout. Prints one line per check; exits non-zero on the
first that does not hold."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
sqs = boto3.client("sqs")
endpoint = sqs.meta.endpoint_url
out = Path(tempfile.mkdtemp(prefix="celery-"))
env = dict(
    os.environ,
    CELERY_BROKER_URL="sqs://" + endpoint.split("://", 1)[1],
    CELERY_TEST_OUT=str(out),
    PYTHONPATH=str(HERE),
)
sys.path.insert(0, str(HERE))
os.environ.update(env)
import celery_tasks  # noqa: E402  (after CELERY_BROKER_URL is set)


workers = []


def worker(name):
    log = open(out / f"{name}.log", "w")
    w = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=solo", "-l", "info"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    workers.append(w)
    return w


def fail(what):
    for w in workers:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
    for log in sorted(out.glob("*.log")):
        print(f"--- {log.name}\n{log.read_text()[-4000:]}", file=sys.stderr)
    sys.exit(what)


def wait_for(what, check, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


def lines(name):
    p = out / name
    return p.read_text().split() if p.exists() else []


def in_queue():
    url = sqs.get_queue_url(QueueName="celery")["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return tuple(int(attrs[n]) for n in names)


def stop(w, sig=signal.SIGTERM):
    os.killpg(w.pid, sig)
    try:
        w.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(w.pid, signal.SIGKILL)
        fail("the worker did not stop on SIGTERM")


# 100 tasks, each run once; every acknowledged message is deleted.
for n in range(100):
    celery_tasks.record.delay(n)
w = worker("tasks")
wait_for("100 tasks", lambda: len(lines("done")) >= 100)
# Past the visibility timeout, a message acknowledged but not deleted would run again.
time.sleep(7)
stop(w)
done = lines("done")
if sorted(map(int, done)) != list(range(100)):
    fail(f"tasks ran {len(done)} times, {len(set(done))} distinct")
if in_queue() != (0, 0):
    fail(f"messages left after 100 acknowledged tasks: {in_queue()}")
print("100 tasks: each ran once, no message left")

# A task whose worker dies before acknowledging it reappears after the visibility timeout.
celery_tasks.hang.delay()
w = worker("killed")
wait_for("the task to start", lambda: lines("hang") == ["started"])
stop(w, signal.SIGKILL)
if in_queue() != (0, 1):
    fail(f"the killed worker's task is not in flight: {in_queue()}")
w = worker("again")
wait_for("the task to run again", lambda: lines("hang") == ["started", "started", "finished"])
wait_for("its message to be deleted", lambda: in_queue() == (0, 0), seconds=10)
stop(w)
print("killed worker: the task ran again after its visibility timeout")
shutil.rmtree(out)
