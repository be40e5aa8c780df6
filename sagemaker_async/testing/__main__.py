"""Run the SageMaker simulator until SIGTERM or SIGINT: ``python -m sagemaker_async.testing``."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from sagemaker_async.testing.faults import FaultSettings, parse_faults
from sagemaker_async.testing.simulator import SageMakerSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m sagemaker_async.testing",
        description="SageMaker training-job simulator on moto's server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (0: any free one)")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds a job stays InProgress"
    )
    parser.add_argument(
        "--stop-delay", type=float, default=1.0, help="seconds from StopTrainingJob to Stopped"
    )
    parser.add_argument(
        "--throttle-fraction",
        type=float,
        default=0.0,
        help="share of SageMaker calls answered ThrottlingException (0-1)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added before each SageMaker answer"
    )
    args = parser.parse_args(argv)
    try:
        parse_faults(fault_settings(args))
    except ValueError as err:
        parser.error(str(err))
    return args


def fault_settings(args: argparse.Namespace) -> FaultSettings:
    """The faults the command line asks for, applied from the start."""
    return {"throttle_fraction": args.throttle_fraction, "latency": args.latency}


def main(argv: list[str] | None = None) -> int:
    """Serve until a termination signal arrives, then shut down cleanly."""
    args = parse_args(argv)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    simulator = SageMakerSimulator(
        host=args.host,
        port=args.port,
        default_duration=args.duration,
        stop_delay=args.stop_delay,
    )
    simulator.set_faults(**fault_settings(args))
    with simulator:
        print(f"sagemaker-simulator listening on {simulator.endpoint_url}", flush=True)
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
