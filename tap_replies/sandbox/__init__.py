"""A loopback emulator of the Leadterra, Smartlead and Tuco AI APIs: for tests, demo, benchmarks."""

from tap_replies.sandbox.server import Sandbox

__all__ = ["Sandbox"]
