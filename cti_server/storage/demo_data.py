"""Demo customers for trying the IVR login and the screen pop (``cti-server customers demo``).

Loading is idempotent: customers whose number exists already are left as they are, with
their history. All names, phone numbers and national IDs are made up.

======  ==========  ======  =========================================================
Number  Name        PIN     What it shows
======  ==========  ======  =========================================================
10001   김민준      1234    VIP, agent 1001, usual card, 3 products, 3 past inquiries
10002   이서연      5678    national ID 900101-******* (IVR: birth date 900101 + PIN)
10003   박지호      1111    phone 010-3482-1937 (identify by caller number)
10004   최수아      2222
10005   정예준      3333    VIP
10006   강하은      4444
10007   조도윤      5555
10008   윤지유      6666    language en
10009   장시우      7777
10010   임서윤      8888
10011   한주원      9999
10012   오하린      1357    VIP, agent 1002
10013   서지훈      2468
10014   신채원      1470
10015   권현우      2580
10016   황수빈      3690
10017   안유진      0852
10018   송민서      9630    no national ID
10019   전건우      7410    no national ID
10020   홍다은      (none)  no PIN: cannot log in by PIN, only be identified
======  ==========  ======  =========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cti_server.storage.customers import CustomerDirectory, Instant, utc
from cti_server.storage.tables import CustomerRow, FrequentProductRow, PaymentMethodRow


@dataclass(frozen=True, slots=True)
class _Demo:
    number: str
    name: str
    phone: str
    pin: str | None
    national_id: str | None
    vip: bool = False
    segment: str = "regular"
    agent: str | None = None
    language: str = "ko"


CUSTOMERS = (
    _Demo("10001", "김민준", "010-2734-5519", "1234", "850315", True, "gold", "1001"),
    _Demo("10002", "이서연", "010-9152-3370", "5678", "900101", segment="silver"),
    _Demo("10003", "박지호", "010-3482-1937", "1111", "920704"),
    _Demo("10004", "최수아", "010-5816-2043", "2222", "880212", segment="silver"),
    _Demo("10005", "정예준", "010-7721-6408", "3333", "790930", True, "gold"),
    _Demo("10006", "강하은", "010-4093-8875", "4444", "950517"),
    _Demo("10007", "조도윤", "010-6627-1190", "5555", "011108", segment="new"),
    _Demo("10008", "윤지유", "010-8350-4726", "6666", "930422", language="en"),
    _Demo("10009", "장시우", "010-2281-9064", "7777", "870626"),
    _Demo("10010", "임서윤", "010-5549-0318", "8888", "990101", segment="new"),
    _Demo("10011", "한주원", "010-3167-7752", "9999", "840809"),
    _Demo("10012", "오하린", "010-9904-2681", "1357", "910213", True, "gold", "1002"),
    _Demo("10013", "서지훈", "010-7438-5126", "2468", "860719", segment="silver"),
    _Demo("10014", "신채원", "010-4725-3391", "1470", "970305"),
    _Demo("10015", "권현우", "010-6012-8847", "2580", "821124"),
    _Demo("10016", "황수빈", "010-8873-1605", "3690", "940630"),
    _Demo("10017", "안유진", "010-2390-7714", "0852", "000814", segment="new"),
    _Demo("10018", "송민서", "010-5168-4430", "9630", None),
    _Demo("10019", "전건우", "010-7796-2258", "7410", None),
    _Demo("10020", "홍다은", "010-3051-6692", None, None),
)

# Made-up back halves for the national IDs above (the table shows them masked).
_BACK_HALVES = {
    "10001": "1234561",
    "10002": "2345672",
    "10003": "1456783",
    "10004": "2567894",
    "10005": "1678905",
    "10006": "2789016",
    "10007": "3890127",
    "10008": "2901238",
    "10009": "1012349",
    "10010": "2123450",
    "10011": "1234562",
    "10012": "2345673",
    "10013": "1456784",
    "10014": "2567895",
    "10015": "1678906",
    "10016": "2789017",
    "10017": "4890128",
}

PRODUCTS = (
    ("HS-001", "정관장 홍삼정 240g"),
    ("AJ-014", "청송 사과즙 30포"),
    ("VT-220", "종합비타민 90정"),
    ("OM-031", "알티지 오메가3 60캡슐"),
    ("PB-007", "유산균 프로바이오틱스 30포"),
)
CARDS = ("신한카드", "국민카드", "삼성카드", "현대카드", "우리카드")
BANKS = ("국민은행", "신한은행", "하나은행")

# The three inquiries the screen pop shows for 10001 (days ago, category, summary, notes, result).
_KIM_INQUIRIES = (
    (
        3,
        "배송",
        "홍삼정 배송 지연 문의",
        "택배사 확인 결과 물류센터 지연. 내일 오전 도착 예정 안내함.",
        "resolved",
    ),
    (17, "결제", "결제 카드 변경 요청", "정기배송 결제수단을 신한카드로 변경 처리함.", "resolved"),
    (
        45,
        "반품",
        "사과즙 파손 교환 요청",
        "박스 파손 사진 확인, 교환 접수. 회수 기사 방문 예정.",
        "follow_up",
    ),
)


def _national_id(demo: _Demo) -> str | None:
    if demo.national_id is None:
        return None
    return f"{demo.national_id}-{_BACK_HALVES[demo.number]}"


def _extras(
    index: int, demo: _Demo, customer_id: str
) -> tuple[list[PaymentMethodRow], list[FrequentProductRow]]:
    """Payment methods and products: fixed for 10001, varied by position for the rest."""
    if demo.number == "10001":
        payments = [
            PaymentMethodRow(
                customer_id=customer_id, kind="card", label="신한카드 ****1234", usual=True
            ),
            PaymentMethodRow(
                customer_id=customer_id, kind="bank", label="국민은행 ****5521", usual=False
            ),
        ]
        counts: tuple[int, ...] = (12, 7, 4)
    else:
        card = PaymentMethodRow(
            customer_id=customer_id,
            kind="card",
            label=f"{CARDS[index % len(CARDS)]} ****{4000 + index * 37:04d}",
            usual=index % 3 != 0,
        )
        bank = PaymentMethodRow(
            customer_id=customer_id,
            kind="transfer" if index % 2 else "bank",
            label=f"{BANKS[index % len(BANKS)]} ****{7000 + index * 53:04d}",
            usual=index % 3 == 0,
        )
        payments = [card, bank]
        counts = (index % 5 + 1, index % 3 + 1)
    products = [
        FrequentProductRow(
            customer_id=customer_id,
            product_code=PRODUCTS[(index + k) % len(PRODUCTS)][0],
            name=PRODUCTS[(index + k) % len(PRODUCTS)][1],
            times_ordered=count,
        )
        for k, count in enumerate(counts)
    ]
    return payments, products


def load_demo_data(directory: CustomerDirectory, *, now: Instant) -> int:
    """Add the demo customers that are missing, with their history; returns how many."""
    at = utc(now)
    with Session(directory.database.sync_engine) as session:
        numbers = [d.number for d in CUSTOMERS]
        existing = set(
            session.scalars(
                select(CustomerRow.customer_number).where(CustomerRow.customer_number.in_(numbers))
            )
        )
    added = 0
    for index, demo in enumerate(CUSTOMERS):
        if demo.number in existing:
            continue
        customer_id = directory.add_customer(
            customer_number=demo.number,
            name=demo.name,
            phone=demo.phone,
            email=f"demo{demo.number}@example.com",
            vip=demo.vip,
            segment=demo.segment,
            language=demo.language,
            assigned_agent=demo.agent,
            pin=demo.pin,
            national_id=_national_id(demo),
            now=at,
            customer_id=f"demo-{demo.number}",
        )
        payments, products = _extras(index, demo, customer_id)
        for k, product in enumerate(products):
            product.last_ordered_at = at - timedelta(days=7 * (k + 1) + index)
        with Session(directory.database.sync_engine) as session, session.begin():
            session.add_all([*payments, *products])
        inquiries = (
            _KIM_INQUIRIES
            if demo.number == "10001"
            else ((index + 2, "상품", "상품 문의", "제품 성분과 복용법 안내함.", "resolved"),)
        )
        for days, category, summary, notes, disposition in inquiries:
            directory.add_contact(
                customer_id,
                at=at - timedelta(days=days, hours=index),
                channel="call",
                call_id=f"demo-call-{demo.number}-{days}",
                agent_id=demo.agent or "1002",
                queue="sales",
                category=category,
                summary=summary,
                notes=notes,
                disposition=disposition,
            )
        added += 1
    return added
