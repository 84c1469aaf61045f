"""The formal semantics of socketserver's ForkingMixIn and ThreadingMixIn lifecycles.

Theory of operation
-------------------

A server is OPEN, CLOSING (inside ``server_close()``, waiting for workers) or CLOSED. Each
accepted request gets one worker, a thread or a child process. The probe handler holds
every request until it is released, so a worker is *held* (running its handler) until a
``Release`` event, then *finished*: its handler returned or raised, the worker closed the
request, and the thread ended or the child exited. A finished child is a zombie until the
server reaps it.

Everything that changes the state is in ``table.TRANSITIONS``: one cell per (phase, event),
either a pure function returning a new frozen state or a ``Refused`` with its reason. After
each event one state-triggered rule runs (``table.settle``): a close whose awaited workers
have all finished returns.

``serve_forever()`` either polls (a short ``poll_interval``: it turns, reaps and sees a
``shutdown()`` by itself) or, with ``poll_interval=None``, sits in ``select()`` until a
connection arrives: then it turns only for connections, and a ``shutdown()`` waits for the
next one, which wakes the loop to the flag and stays in the backlog (bpo-35017).

The real system is concurrent, so the model is nondeterministic where the real server is:
a blocking fork close reaps exited children in an order of its own (``Reaped.MAYBE``), and
``documented`` allows a server to reap finished children sooner than CPython does. A
checker compares each step's observation with the state the model moved to; the
guarantees in ``guarantees.GUARANTEES`` say, one named statement each, what a mismatch means.

Where CPython lines differ, or the documentation is silent, a ``profiles.Profile`` switch
decides; ``documented`` is the contract as written, the others are CPython as built.

This package imports nothing from ``impl`` or ``checker``: it is the semantics alone.
"""

from model.guarantees import BY_NAME, GUARANTEES, Guarantee, StepView, Violation, check
from model.observation import Call, Child, Observation, Probe, Where, WorkerObs
from model.profiles import DOCUMENTED, PROFILES, Profile, profile_for_version
from model.state import Capped, Kind, Outcome, Phase, Reaped, Server, State, Timeout, Transport, Worker
from model.table import (
    ATTRIBUTES,
    POLL_INTERVALS,
    TRANSITIONS,
    Close,
    Connect,
    Event,
    HangUp,
    Refused,
    Release,
    Serve,
    SetAttr,
    Shutdown,
    StepRefused,
    TimeOut,
    allowed,
    effective_timeout,
    listener_held,
    outside_contract,
    server_sockets,
    step,
)

__all__ = [
    "ATTRIBUTES",
    "BY_NAME",
    "DOCUMENTED",
    "GUARANTEES",
    "POLL_INTERVALS",
    "PROFILES",
    "TRANSITIONS",
    "Call",
    "Capped",
    "Child",
    "Close",
    "Connect",
    "Event",
    "Guarantee",
    "HangUp",
    "Kind",
    "Observation",
    "Outcome",
    "Phase",
    "Probe",
    "Profile",
    "Reaped",
    "Refused",
    "Release",
    "Serve",
    "Server",
    "SetAttr",
    "Shutdown",
    "State",
    "StepRefused",
    "StepView",
    "TimeOut",
    "Timeout",
    "Transport",
    "Violation",
    "Where",
    "Worker",
    "WorkerObs",
    "allowed",
    "check",
    "effective_timeout",
    "listener_held",
    "outside_contract",
    "profile_for_version",
    "server_sockets",
    "step",
]
