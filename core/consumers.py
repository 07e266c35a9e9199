"""Helpers for the apps' websocket consumers."""


async def refuse(consumer, code: int) -> None:
    """Accept then close, so that the browser sees why (4401 log in, 4403 not allowed).

    Closing before accepting would reject the handshake and lose the code.
    """
    await consumer.accept()
    await consumer.close(code=code)
