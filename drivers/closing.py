"""A resource that is closed on every exit: the one context-manager shape of the drivers."""

from __future__ import annotations


class ConfiguredOnEnter:
    """A resource as a context manager: :meth:`configure` on entry (bring it into its working
    state: a supply's set-up, a meter's, a lab's processes started), and :meth:`close` if that
    fails half-way, so nothing half-opened is left behind; :meth:`close` on every exit (normal,
    an exception, Ctrl-C). Subclasses provide both; ``close()`` must be idempotent."""

    def configure(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self.configure()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
