"""The dry run's stand-in for `ConvexClient`: each call serialized as it would be sent and
answered by `dry_run.DryRunDeployment`, in this process or in a process of its own.

Calls are pipelined: `submit` hands a call on and returns a ticket, `answer` reads what it
returned (answers come in submission order). In its own process (`separate=True`, what
`import --dry-run` uses) the dry-run deployment works on another core while the importer
reads and transforms the next batches, as a real deployment works while the client goes
on, without threads waiting on each call in the importer's process. That process also keeps
the dry run's throwaway key ledger (`hosted_ledger`), whose sqlite work would otherwise be
the importer's: claims go to it over a pipe of their own, served before waiting calls.
"""

from __future__ import annotations

import itertools
import multiprocessing
import signal
import threading
from multiprocessing.connection import wait
from typing import Any, Callable

import orjson

from ..collector import streaming_rows
from ..errors import MigratorError
from ..importer.key_ledger import KeyLedger, Position
from ..plan.model import DatabasePlan
from .convex_http import CallStats, ConvexCallError, ConvexFunctionError, Deployment
from .dry_run import DryRunDeployment, DryRunReport
from .pacing import Pacer
from .wire import EncodedRows, encode


# The pipes' kernel buffer (Linux's default is 64 KiB, less than one batch's request): the importer
# hands a batch on and reads on while the deployment is busy, instead of waiting in write().
PIPE_BYTES = 1 << 20


def _widen(end) -> None:
    """Give a pipe PIPE_BYTES of buffer where the system allows it (Linux); elsewhere, as it is."""
    try:
        import fcntl
        fcntl.fcntl(end.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):   # not Linux, or over /proc/sys/fs/pipe-max-size
        pass


class DryRunClient:
    """Same interface as `ConvexClient` (`query`/`mutation`/`action`, `deployment`, `stats`,
    `pacer`), plus `submit`/`answer`. `report` says what would have been sent (final once closed).
    `keys_unique`: see `DryRunDeployment` (the importer rejects duplicate keys)."""

    pipelined = True
    # Batches handed on before the first of them is waited for, whatever --concurrency says (it
    # is the real import's, for a network): 8 (measured) lets the importer read on while the
    # deployment's process works through its pipe; 4 made it wait, 16 gained nothing more.
    depth = 8

    def __init__(self, plan: DatabasePlan, *, separate: bool = False, keys_unique: bool = False):
        self.deployment = Deployment(url="dry-run", key=None)
        self.stats = CallStats()
        self.pacer = Pacer()               # never throttled: batches and concurrency as the options say
        self._report: DryRunReport | None = None
        self._tickets = itertools.count(1)
        self._answers: dict[int, bytes] = {}           # ticket -> the serialized answer, until read
        self._sending = threading.Lock()
        self._local: DryRunDeployment | None = None
        if not separate:
            self._local = DryRunDeployment(plan, keys_unique=keys_unique)
            return
        self._arrived = threading.Condition()
        self._stopped: str | None = None               # why no more answers will come
        answers_in, answers_out = multiprocessing.Pipe(duplex=False)
        self._requests_in, self._requests = multiprocessing.Pipe(duplex=False)
        for end in (answers_out, self._requests):
            _widen(end)
        ledger_here, ledger_there = multiprocessing.Pipe()
        context = _context()
        forked = [self._requests, answers_in, ledger_here] if context.get_start_method() == "fork" else []
        self._process = context.Process(target=_serve, args=(plan, keys_unique, self._requests_in, answers_out,
                                                             ledger_there, forked),
                                        daemon=True, name="dexie-convex dry run")
        self._process.start()
        self._requests_in.close()
        answers_out.close()
        ledger_there.close()
        self._ledger = HostedLedger(ledger_here, self._gone)
        self._answers_in = answers_in
        self._receiver = threading.Thread(target=self._receive, daemon=True, name="dry run answers")
        self._receiver.start()

    def hosted_ledger(self) -> "HostedLedger | None":
        """The throwaway key ledger in the deployment's process (None when it runs in this one)."""
        return None if self._local is not None else self._ledger

    @property
    def report(self) -> DryRunReport:
        if self._report is not None:
            return self._report
        return DryRunReport(**self.answer(self.submit("report", "", {}, count=False)))

    def close(self) -> None:
        if self._report is not None:
            return
        self._report = self.report
        if self._local is not None:
            self._local.close()
            return
        self._requests.close()             # the deployment's process sees the end of its requests and stops
        self._ledger.close()
        self._process.join(timeout=60)
        self._receiver.join(timeout=5)

    def __enter__(self) -> "DryRunClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- ConvexClient's calls: submitted, then answered ------------------------------------
    def query(self, path: str, args: dict) -> Any:
        return self.answer(self.submit("query", path, args))

    def mutation(self, path: str, args: dict, *, divisible: bool = False) -> Any:
        """(`divisible` is ConvexClient's; a dry run is never throttled, so never splits a batch.)"""
        return self.answer(self.submit("mutation", path, args))

    def action(self, path: str, args: dict) -> Any:
        return self.answer(self.submit("action", path, args))

    # -- pipelined -------------------------------------------------------------------------
    def submit(self, kind: str, path: str, args: dict, *, count: bool = True) -> int:
        """Hand a call on; its ticket, for `answer`."""
        body = orjson.dumps(encode(args))  # the arguments as ConvexClient sends them (serialized once)
        call = {"kind": kind, "path": path, "size": len(body)}
        if kind == "mutation" and isinstance(args.get("rows"), EncodedRows):
            call["convexSizes"] = args["rows"].convex_sizes
        request = orjson.dumps(call)[:-1] + b',"args":' + body + b"}"
        with self._sending:
            ticket = next(self._tickets)
            if count:
                self.stats.requests += 1
            if self._local is not None:
                self._answers[ticket] = self._local.answer(request)
                return ticket
            try:
                self._requests.send_bytes(request)
            except OSError:
                raise self._gone() from None
        return ticket

    def answer(self, ticket: int) -> Any:
        """What the call of `ticket` returned; raises what it raised."""
        if self._local is not None:
            reply = orjson.loads(self._answers.pop(ticket))
        else:
            with self._arrived:
                while ticket not in self._answers:
                    if self._stopped is not None:
                        raise self._gone()
                    self._arrived.wait()
                reply = orjson.loads(self._answers.pop(ticket))
        if "error" not in reply:
            return reply["value"]
        error, path = reply["error"], reply["path"]
        if error["function"]:
            raise ConvexFunctionError(path, error["message"], data=error["data"])
        raise ConvexCallError(path, error["message"], status=error["status"], code=error["code"])

    def _receive(self) -> None:
        """Read answers as they come (so the deployment never waits to write one), numbered in order."""
        for ticket in itertools.count(1):
            try:
                data = self._answers_in.recv_bytes()
            except (EOFError, OSError):
                self._process.join(timeout=5)  # its exit code, once it has one
                with self._arrived:
                    self._stopped = f"exit code {self._process.exitcode}"
                    self._arrived.notify_all()
                return
            with self._arrived:
                self._answers[ticket] = data
                self._arrived.notify_all()

    def _gone(self) -> MigratorError:
        return MigratorError(f"the dry run's deployment process stopped ({self._stopped or 'its pipe closed'})",
                             "run the dry run again")


class HostedLedger:
    """`KeyLedger`'s calls, answered by one in the deployment's process, in the order made."""

    def __init__(self, conn, gone: Callable[[], MigratorError]):
        self._conn, self._gone = conn, gone
        self._sent = self._read = 0
        self._results: dict[int, Any] = {}

    def dump_number(self, identity: str, file: str, path: str) -> int:
        return self._call("dump_number", identity, file, path)()

    def claim_later(self, dump: int, table: str, scope: tuple[str, str | None],
                    keys: list[tuple[Any, int]]) -> Callable[[], list[Position | None]]:
        return self._call("claim_later", dump, table, scope, keys)

    def reset(self) -> None:
        self._call("reset")()

    def close(self) -> None:
        self._conn.close()

    def _call(self, method: str, *args: Any) -> Callable[[], Any]:
        try:
            self._conn.send((method, args))
        except OSError:
            raise self._gone() from None
        self._sent += 1
        return lambda number=self._sent: self._result(number)

    def _result(self, number: int) -> Any:
        while self._read < number:
            try:
                self._results[self._read + 1] = self._conn.recv()
            except (EOFError, OSError):
                raise self._gone() from None
            self._read += 1
        return self._results.pop(number)


def _context():
    """fork where there is one (starts at once, shares the loaded plan); spawn elsewhere."""
    return multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def _serve(plan: DatabasePlan, keys_unique: bool, requests, answers, ledger_calls, importer_ends: list) -> None:
    """The deployment's process: answer requests until the importer closes its end, and the
    key ledger's calls first whenever there are some (the importer waits for those). Ctrl-C is
    the importer's to handle (it stops, then closes the pipe). `importer_ends`: the importer's
    ends of the pipes as a fork copied them, closed here, or the importer closing its end
    would not end the requests."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for end in importer_ends:
        end.close()
    deployment = DryRunDeployment(plan, keys_unique=keys_unique)
    ledger = KeyLedger(None, fresh=True)
    watched = [ledger_calls, requests]
    try:
        with streaming_rows() as sweeper:
            while True:
                try:
                    if ledger_calls in watched and ledger_calls in wait(watched):
                        try:
                            method, args = ledger_calls.recv()
                            found = getattr(ledger, method)(*args)
                            ledger_calls.send(found() if method == "claim_later" else found)
                        except (EOFError, OSError):  # the importer closed the ledger (it stopped): calls go on
                            watched.remove(ledger_calls)
                        continue
                    request = requests.recv_bytes()
                    answers.send_bytes(deployment.answer(request))
                    sweeper.batch_done()
                except (EOFError, OSError):    # the importer is done (or gone)
                    return
    finally:
        ledger.close()
        deployment.close()
