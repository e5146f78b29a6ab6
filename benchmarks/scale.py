"""Scale: each per-item step's lines/s and peak memory on large generated manifests.

    .venv/bin/python -m benchmarks.scale                       # quick check: 100,000 lines
    .venv/bin/python -m benchmarks.scale --lines 1000000 10000000 --results benchmarks/results/scale.md

For each size it generates a text-classification job (an input manifest of N lines, about
150 bytes each), then runs the workflow's per-item steps in their order, each through its
handler's real code (the Lambda handler, Powertools decorators and all):
ValidateJob -> SelectSample -> ApplyThreshold (on generated pool predictions, about 70% accepted)
-> SelectAmbiguous -> WriteOutput (the output manifest of all N lines; the job ends on a
stopping condition, so the unlabeled 30% are written as such). ConsolidateAnnotations is
measured apart, on a human batch of --batch items (10,000) with one worker response each.

How it measures, and why:
* S3 is a moto server in its own process (`python -m moto.server`), reached over HTTP by the
  handler's own boto3 client (AWS_ENDPOINT_URL_S3). So the handler does every request it does
  in AWS (GETs streamed, multipart uploads in parts), and moto's memory, which holds every
  object, is not counted as the handler's. moto in-process (mock_aws) would count moto's copy of
  each object as the handler's memory and hide what the handler keeps.
* Each step runs in a fresh subprocess pinned to one core (sched_setaffinity); the moto server
  runs on the other cores. *lines/s* is the lines the step reads in its main stream over the
  handler call's wall time; it includes the HTTP round trips to moto, whose serving costs the
  other core. *cpu s* is the handler process's own user+system CPU time over the call, and
  *lines/cpu-s* the lines over it: the step's own throughput on one core, without the stand-in's
  serving time or other processes' load (this machine is shared). *moto cpu s* is the CPU time the
  moto server spent meanwhile (from /proc): where wall time is well over the handler's CPU time,
  the step waited on the stand-in (moto's werkzeug server reads whole objects and joins multipart
  uploads in Python), not on its own work.
* *peak MB* is the step process's peak resident set (ru_maxrss): what Lambda's memory limit
  applies to, Python, boto3 and pydantic included (*base MB* is the RSS after the imports,
  before the handler runs). tracemalloc would miss C allocations and slow the code several-fold.
* *tmp MB* is the most the step had under the temporary directory (polled every 50 ms), the
  Lambda's 512 MB /tmp: it should stay 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUCKET = "scale-bench"
REGION = "us-east-1"
LABELS = ["business", "entertainment", "politics", "sport", "tech"]
THRESHOLD = 0.7
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no more said market team game "
         "government film music election season player company shares growth minister court record").split()
ENV = {
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true",
    "MPLCONFIGDIR": "/tmp/matplotlib-bench", "AVAILABLE_TASK_TYPES": "text-classification",
}
HANDLERS = {
    "ValidateJob": "labeling.handlers.validate_job",
    "SelectSample": "labeling.handlers.select_sample",
    "ApplyThreshold": "labeling.handlers.apply_threshold",
    "SelectAmbiguous": "labeling.handlers.select_ambiguous",
    "WriteOutput": "labeling.handlers.write_output",
    "ConsolidateAnnotations": "labeling.handlers.consolidate_annotations",
}


# ---------------------------------------------------------------- the step's own process

def _tmp_usage(root: str) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def child(step: str, state_path: str, result_path: str, cpu: int) -> None:
    """Run one handler on the state in state_path; write its result and measures to result_path."""
    os.sched_setaffinity(0, {cpu})
    import importlib

    from tests.unit.lambda_context import Context

    module = importlib.import_module(HANDLERS[step])
    # The first S3 client is made before the clock starts, as a warm Lambda has it.
    from labeling.dal import s3
    s3._client()
    event = json.loads(Path(state_path).read_text())
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tmp_root, tmp_peak, done = tempfile.gettempdir(), [0], threading.Event()

    def watch_tmp():
        while not done.wait(0.05):
            tmp_peak[0] = max(tmp_peak[0], _tmp_usage(tmp_root))

    watcher = threading.Thread(target=watch_tmp, daemon=True)
    tmp_before = _tmp_usage(tmp_root)
    watcher.start()
    usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    profile = os.environ.get("SCALE_BENCH_PROFILE")  # a folder: each step's cProfile stats go there
    if profile:
        import cProfile
        profiler = cProfile.Profile()
        output = profiler.runcall(module.handler, event, Context(function_name=step, memory_limit_in_mb=256))
        profiler.dump_stats(os.path.join(profile, f"{step}.prof"))
    else:
        output = module.handler(event, Context(function_name=step, memory_limit_in_mb=256))
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    done.set()
    watcher.join()
    Path(result_path).write_text(json.dumps({
        "output": output, "seconds": seconds,
        "cpu": (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
        "base_mb": base / 1024, "peak_mb": after.ru_maxrss / 1024,
        "tmp_mb": max(0, tmp_peak[0] - tmp_before) / 1e6,
    }))


# ---------------------------------------------------------------- the driver

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_SERVER_PID: list[int] = []  # the moto server's process, whose CPU time each step is charged with


def _cpu_seconds(pid: int) -> float:
    """A process's user+system CPU time, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def moto_server():
    port = _free_port()
    env = {**os.environ, **ENV}
    cpus = sorted(os.sched_getaffinity(0))
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=(lambda: os.sched_setaffinity(0, set(cpus[1:]))) if len(cpus) > 1 else None)
    endpoint = f"http://127.0.0.1:{port}"
    _SERVER_PID[:] = [process.pid]
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def _client(endpoint: str):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="bench",
                        aws_secret_access_key="bench", aws_session_token="bench")


def _text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(14, 26))).capitalize() + "."


def write_manifest(path: Path, lines: int, seed: int = 0) -> None:
    """About 150 bytes a line: {"source": text, "n": n}; 1,000 texts, each with its line number."""
    rng = random.Random(seed)
    texts = [_text(rng) for _ in range(1000)]
    with path.open("w") as out:
        for n in range(lines):
            out.write(f'{{"source": "{texts[n % 1000]} ({n})", "n": {n}}}\n')


def write_predictions(path: Path, lines: int, seed: int = 1) -> None:
    """What the text container's batch transform writes: label, confidence, 5 scores, a 128-bit sketch."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for _ in range(lines):
            top = rng.betavariate(5, 1.6)  # about 70% at or above THRESHOLD
            rest = [rng.random() for _ in range(4)]
            scale = (1 - top) / sum(rest)
            scores = [round(top, 6)] + [round(r * scale, 6) for r in rest]
            rng.shuffle(scores)
            label = scores.index(max(scores))
            out.write(json.dumps({"label": label, "confidence": max(scores), "scores": scores,
                                  "sketch": f"{rng.getrandbits(128):032x}"}) + "\n")


def _keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def _lines(client, key: str) -> int:
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
    return sum(chunk.count(b"\n") for chunk in body.iter_chunks(1 << 20))


def _run(step: str, state: dict, work: Path, lines: int, endpoint: str) -> tuple[dict, dict]:
    state_path, result_path = work / f"{step}.state.json", work / f"{step}.result.json"
    state_path.write_text(json.dumps(state))
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL_S3": endpoint, "TMPDIR": str(work / "tmp")}
    (work / "tmp").mkdir(exist_ok=True)
    cpu = sorted(os.sched_getaffinity(0))[0]
    server_cpu = _cpu_seconds(_SERVER_PID[0]) if _SERVER_PID else 0.0
    subprocess.run([sys.executable, "-m", "benchmarks.scale", "--child", step, str(state_path), str(result_path),
                    str(cpu)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(result_path.read_text())
    server_cpu = (_cpu_seconds(_SERVER_PID[0]) if _SERVER_PID else 0.0) - server_cpu
    row = {"step": step, "lines": lines, "seconds": result["seconds"], "cpu": result["cpu"],
           "lines_per_s": lines / result["seconds"], "base_mb": result["base_mb"], "peak_mb": result["peak_mb"],
           "tmp_mb": result["tmp_mb"], "server_cpu": server_cpu}
    print(f"  {step:<24} {lines:>11,} lines {result['seconds']:8.1f} s {row['lines_per_s']:>10,.0f} lines/s "
          f"cpu {result['cpu']:7.1f} s (moto {server_cpu:5.1f} s) peak {result['peak_mb']:6.0f} MB "
          f"(base {result['base_mb']:.0f}) "
          f"tmp {result['tmp_mb']:.0f} MB", flush=True)
    return result["output"], row


def _job_files(client, prefix: str, **config) -> None:
    client.put_object(Bucket=BUCKET, Key=f"{prefix}job.json", Body=json.dumps(
        {"TaskType": "text-classification", "MaxConcurrentTaskCount": 150, "CalibrationSampleSize": 100,
         "MaxInvalidLinePercentage": 10, **config}).encode())
    client.put_object(Bucket=BUCKET, Key=f"{prefix}labels.json", Body=json.dumps(
        {"document-version": "2018-11-28", "labels": [{"label": name} for name in LABELS]}).encode())


def pipeline(lines: int, endpoint: str, work: Path) -> list[dict]:
    from labeling.layout import JobLayout, split_s3_uri
    from labeling.logic.output import creation_date
    from labeling.logic.sagemaker_step import sagemaker_step
    from labeling.models.state import JobState

    client = _client(endpoint)
    job = f"scale-{lines}"
    prefix = f"jobs/{job}/"
    layout = JobLayout(prefix)
    started = time.perf_counter()
    manifest = work / "input.manifest"
    write_manifest(manifest, lines)
    _job_files(client, prefix)
    client.upload_file(str(manifest), BUCKET, layout.input_manifest)
    manifest.unlink()
    print(f"{lines:,} lines: generated and uploaded in {time.perf_counter() - started:.0f} s", flush=True)
    rows = []

    state, row = _run("ValidateJob", {"bucket": BUCKET, "key": layout.input_manifest}, work, lines, endpoint)
    rows.append(row)
    state, row = _run("SelectSample", state, work, lines, endpoint)
    rows.append(row)

    # What the human batch and the model would give: labels for the batch, predictions for the pool.
    parsed = JobState.model_validate(state)
    batch = [json.loads(line) for line in client.get_object(Bucket=BUCKET, Key=layout.human_batch(0))["Body"]
             .read().decode().splitlines()]
    created = creation_date()
    client.put_object(Bucket=BUCKET, Key=layout.consolidated(0), Body="".join(
        json.dumps({**item, "label": item["id"] % 5, "confidence": 1.0, "human": True,
                    "workers": 1, "createdAt": created}) + "\n" for item in batch).encode())
    pool = parsed.counts.pool
    parsed.train_model = True
    step = sagemaker_step(parsed)
    parsed.sagemaker = step
    # One prediction file per pool file, where batch transform writes it: <output path>/<part>.out.
    pool_key = split_s3_uri(step.pool_data_uri)[1]
    parts = [key for key in _keys(client, pool_key) if key[len(pool_key):].startswith("part-")] \
        if pool_key.endswith("/") else [pool_key]
    folder = pool_key if pool_key.endswith("/") else pool_key.rpartition("/")[0] + "/"
    for seed, part in enumerate(parts):
        predictions = work / "predictions.out"
        write_predictions(predictions, _lines(client, part), seed=seed)
        out_key = split_s3_uri(step.pool_output_uri)[1].rstrip("/") + "/" + part[len(folder):] + ".out"
        client.upload_file(str(predictions), BUCKET, out_key)
        predictions.unlink()
    state = parsed.dump()
    state["threshold"] = {"value": THRESHOLD, "calibrationSize": 100, "calibrationAccepted": 90, "estimate": 0.97,
                          "lowerBound": 0.951}

    state, row = _run("ApplyThreshold", state, work, pool, endpoint)
    rows.append(row)
    remaining = state["counts"]["pool"]
    state, row = _run("SelectAmbiguous", state, work, remaining, endpoint)
    rows.append(row)
    state["stopReason"] = "MaxHumanLabeledObjectCount"  # the job ends here: the rest is written unlabeled
    _, row = _run("WriteOutput", state, work, lines, endpoint)
    rows.append(row)
    return rows


def consolidation(items: int, endpoint: str, work: Path) -> dict:
    """ConsolidateAnnotations on a human batch of `items`, one published worker response each."""
    from labeling.layout import JobLayout, s3_uri
    from labeling.logic import worker_answers

    client = _client(endpoint)
    job = f"consolidate-{items}"
    prefix = f"jobs/{job}/"
    layout = JobLayout(prefix)
    _job_files(client, prefix)
    batch = [{"id": n * 3, "source": f"text {n}", "role": "calibration" if n < 100 else "train"}
             for n in range(items)]
    client.put_object(Bucket=BUCKET, Key=layout.human_batch(0),
                      Body="".join(json.dumps(item) + "\n" for item in batch).encode())
    now = int(datetime.now(UTC).timestamp() * 1000)

    def publish(item):
        record = worker_answers.response_record(
            answer_content={"label": LABELS[item["id"] % 5]}, worker_id="worker-1",
            worker_metadata={"identityData": {"identityProviderType": "Oidc", "issuer": "bench", "sub": "w1"}},
            accepted_at=now - 30_000, submitted_at=now)
        client.put_object(Bucket=BUCKET, Body=json.dumps(record).encode(),
                          Key=layout.worker_response(0, item["id"], worker_answers.file_name(now, "worker-1")))

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(publish, batch))
    print(f"ConsolidateAnnotations: {items:,} worker responses uploaded in {time.perf_counter() - started:.0f} s",
          flush=True)
    settings = {"TaskType": "text-classification", "MaxConcurrentTaskCount": min(10_000, items),
                "CalibrationSampleSize": 100}
    state = {
        "job": {"name": job, "bucket": BUCKET, "prefix": prefix, "outputPrefix": layout.output, "automated": True,
                "labelNames": LABELS, "settings": settings},
        "runId": "bench0", "iteration": 0,
        "counts": {"total": items * 3, "pool": items * 2, "inHumanBatch": items},
        "batch": {"uri": s3_uri(BUCKET, layout.human_batch(0)), "size": items, "calibrationSize": 100},
        "poolUri": s3_uri(BUCKET, layout.pool(0)),
    }
    _, row = _run("ConsolidateAnnotations", state, work, items, endpoint)
    return row


def markdown(rows: list[dict], note: str) -> str:
    out = [note, "",
           "| step | lines | seconds | lines/s | cpu s | lines/cpu-s | moto cpu s | peak MB | base MB | /tmp MB |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['step']} | {r['lines']:,} | {r['seconds']:.1f} | {r['lines_per_s']:,.0f} | {r['cpu']:.1f} | "
                   f"{r['lines'] / max(r['cpu'], 1e-9):,.0f} | {r['server_cpu']:.1f} | {r['peak_mb']:.0f} | "
                   f"{r['base_mb']:.0f} | "
                   f"{r['tmp_mb']:.0f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000], help="manifest sizes (default 100,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="ConsolidateAnnotations' batch (0: skip)")
    parser.add_argument("--results", type=Path, help="write the table (markdown) here")
    parser.add_argument("--child", nargs=4, metavar=("STEP", "STATE", "RESULT", "CPU"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, state, result, cpu = args.child
        child(step, state, result, int(cpu))
        return 0
    os.environ.update(ENV)
    rows: list[dict] = []
    started = time.perf_counter()
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        _client(endpoint).create_bucket(Bucket=BUCKET)
        work = Path(tmp)
        if args.batch:
            rows.append(consolidation(args.batch, endpoint, work))
        for lines in args.lines:
            rows.extend(pipeline(lines, endpoint, work))
            shutil.rmtree(work / "tmp", ignore_errors=True)
    note = (f"{datetime.now(UTC):%Y-%m-%d}, `python -m benchmarks.scale --lines "
            f"{' '.join(map(str, args.lines))} --batch {args.batch}`, {time.perf_counter() - started:.0f} s in all "
            f"on {os.cpu_count()} cores (each step pinned to one).")
    table = markdown(rows, note)
    print("\n" + table)
    if args.results:
        args.results.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
