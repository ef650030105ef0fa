"""CRM views for agents: the screen pop (and, later, the agent script tree)."""

from cti_server.crm.screenpop import (
    FrequentProduct,
    PastInquiry,
    PaymentMethod,
    ScreenPop,
    assemble_screen_pop,
    build_screen_pop,
)

__all__ = [
    "FrequentProduct",
    "PastInquiry",
    "PaymentMethod",
    "ScreenPop",
    "assemble_screen_pop",
    "build_screen_pop",
]
