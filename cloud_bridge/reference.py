"""Partner records: the adapter boundary, the reference-data registry, and a realistic generator.

A lane asks `partner.lookup` with the owner's ID number (or a booking
number) and gets the owner and the vehicle(s) awaiting registration with
their factory-certificate, purchase-tax and insurance e-records.

`PartnerAdapter` is the boundary: the bridge calls `lookup()` and nothing
else. `ReferenceDataAdapter` answers from the reference registry kept in the
bridge's database (loaded with `passlane bridge load-reference FILE`); a real
partner system (the traffic-management platform's certificate, tax and
insurance interfaces) plugs in as another class with the same method that
maps its answers onto `PartnerAnswer`. See docs/bridge.md.

File formats (documented in docs/bridge.md): JSON ``{"owners": [...],
"vehicles": [...]}`` with the models below, or CSV with one row per vehicle
and the flat columns of `CSV_COLUMNS`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.contract import NEW_ENERGY_FUELS, plate_kind_for_fuel

if TYPE_CHECKING:
    from cloud_bridge.store import Store

# ---------------------------------------------------------------- check characters

VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def vin_check_digit(vin: str) -> str:
    total = sum(VIN_VALUES[c] * w for c, w in zip(vin.upper(), VIN_WEIGHTS))
    r = total % 11
    return "X" if r == 10 else str(r)


def vin_valid(vin: str) -> bool:
    return len(vin) == 17 and all(c in VIN_CHARS for c in vin) and vin[8] == vin_check_digit(vin)


ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character of a citizen identity number."""
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS)) % 11]


def id_number_valid(idn: str) -> bool:
    return len(idn) == 18 and idn[:17].isdigit() and idn[17] == id_check_char(idn[:17])


# ---------------------------------------------------------------- models


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Owner(Model):
    id_number: str = Field(description="18-character citizen ID number (GB 11643 check character)")
    name: str
    gender: Literal["M", "F"] | None = None
    birth_date: str | None = None
    address: str = ""
    phone: str = ""

    @field_validator("id_number")
    @classmethod
    def _idn(cls, v: str) -> str:
        if not id_number_valid(v):
            raise ValueError(f"{v!r} is not a valid 18-character ID number (check character)")
        return v


class Certificate(Model):
    """Factory certificate (合格证) e-data."""

    certificate_number: str = ""
    vin: str
    manufacturer: str = ""
    brand: str
    model: str
    vehicle_type: str = "小型轿车"
    engine_number: str = ""
    colour: str = ""
    seats: int = 5
    fuel_type: str = Field("petrol", description="petrol, diesel, hybrid, bev, phev, fcev")
    manufacture_date: str = ""


class PurchaseTax(Model):
    status: Literal["paid", "exempt", "missing"] = "paid"
    record_number: str = ""
    amount_cents: int = 0


class Insurance(Model):
    status: Literal["valid", "missing", "expired"] = "valid"
    insurer: str = ""
    policy_number: str = ""
    valid_from: str = ""
    valid_to: str = ""


class Vehicle(Model):
    vin: str
    owner_id_number: str
    booking_number: str | None = None
    certificate: Certificate
    purchase_tax: PurchaseTax = PurchaseTax()
    insurance: Insurance = Insurance()


class ReferenceData(Model):
    owners: list[Owner] = []
    vehicles: list[Vehicle] = []


class PartnerAnswer(Model):
    owner: Owner | None
    vehicles: list[dict[str, Any]]  # Vehicle fields plus "plate_kind" and "issues"


class PartnerAdapter(Protocol):
    """Where a partner system plugs in: one call, answered in milliseconds or failing fast."""

    def lookup(
        self, *, id_number: str | None = None, booking_number: str | None = None, vin: str | None = None
    ) -> PartnerAnswer | None: ...


def vehicle_issues(v: dict[str, Any], today: dt.date | None = None) -> list[str]:
    """What stops this vehicle being registered today, from its partner records."""
    today = today or dt.date.today()
    issues = []
    if v["purchase_tax"]["status"] == "missing":
        issues.append("purchase_tax_missing")
    ins = v["insurance"]
    if ins["status"] != "valid":
        issues.append(f"insurance_{ins['status']}")
    elif ins.get("valid_to") and ins["valid_to"] < today.isoformat():
        issues.append("insurance_expired")
    if v["certificate"]["vin"] != v["vin"]:
        issues.append("certificate_vin_mismatch")
    if not vin_valid(v["vin"]):
        issues.append("vin_check_digit")
    return issues


class ReferenceDataAdapter:
    """Answers from the reference registry in the bridge's own database (the store's partner records)."""

    def __init__(self, store: Store) -> None:
        self.records = store.partner_records

    def lookup(
        self, *, id_number: str | None = None, booking_number: str | None = None, vin: str | None = None
    ) -> PartnerAnswer | None:
        vehicles = self.records.vehicles(id_number=id_number, booking_number=booking_number, vin=vin)
        if id_number is None:
            id_number = vehicles[0]["owner_id_number"] if vehicles else None
        owner = self.records.owner(id_number) if id_number else None
        if owner is None and not vehicles:
            return None
        out = []
        for v in vehicles:
            v = dict(v)

            v["plate_kind"] = plate_kind_for_fuel(v["certificate"].get("fuel_type")).value
            v["issues"] = vehicle_issues(v)
            out.append(v)
        return PartnerAnswer(owner=Owner.model_validate(owner) if owner else None, vehicles=out)


# ---------------------------------------------------------------- file formats

CSV_COLUMNS = [
    "id_number",
    "name",
    "gender",
    "birth_date",
    "address",
    "phone",
    "vin",
    "booking_number",
    "certificate_number",
    "manufacturer",
    "brand",
    "model",
    "vehicle_type",
    "engine_number",
    "colour",
    "seats",
    "fuel_type",
    "manufacture_date",
    "purchase_tax_status",
    "purchase_tax_record",
    "purchase_tax_cents",
    "insurance_status",
    "insurer",
    "policy_number",
    "insurance_valid_from",
    "insurance_valid_to",
    "certificate_vin",
]


def to_csv(data: ReferenceData) -> str:
    owners = {o.id_number: o for o in data.owners}
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS)
    w.writeheader()
    for v in data.vehicles:
        o = owners[v.owner_id_number]
        c, t, i = v.certificate, v.purchase_tax, v.insurance
        w.writerow(
            {
                "id_number": o.id_number,
                "name": o.name,
                "gender": o.gender or "",
                "birth_date": o.birth_date or "",
                "address": o.address,
                "phone": o.phone,
                "vin": v.vin,
                "booking_number": v.booking_number or "",
                "certificate_number": c.certificate_number,
                "manufacturer": c.manufacturer,
                "brand": c.brand,
                "model": c.model,
                "vehicle_type": c.vehicle_type,
                "engine_number": c.engine_number,
                "colour": c.colour,
                "seats": c.seats,
                "fuel_type": c.fuel_type,
                "manufacture_date": c.manufacture_date,
                "purchase_tax_status": t.status,
                "purchase_tax_record": t.record_number,
                "purchase_tax_cents": t.amount_cents,
                "insurance_status": i.status,
                "insurer": i.insurer,
                "policy_number": i.policy_number,
                "insurance_valid_from": i.valid_from,
                "insurance_valid_to": i.valid_to,
                "certificate_vin": c.vin if c.vin != v.vin else "",
            }
        )
    return buf.getvalue()


def from_csv(text: str) -> ReferenceData:
    owners: dict[str, Owner] = {}
    vehicles = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        missing = {"id_number", "name", "vin", "brand", "model"} - {k for k, v in row.items() if v}
        if missing:
            raise ValueError(f"line {n}: missing {', '.join(sorted(missing))}")
        owners.setdefault(
            row["id_number"],
            Owner(
                id_number=row["id_number"],
                name=row["name"],
                gender=row.get("gender") or None,
                birth_date=row.get("birth_date") or None,
                address=row.get("address", ""),
                phone=row.get("phone", ""),
            ),
        )
        vehicles.append(
            Vehicle(
                vin=row["vin"],
                owner_id_number=row["id_number"],
                booking_number=row.get("booking_number") or None,
                certificate=Certificate(
                    certificate_number=row.get("certificate_number", ""),
                    vin=row.get("certificate_vin") or row["vin"],
                    manufacturer=row.get("manufacturer", ""),
                    brand=row["brand"],
                    model=row["model"],
                    vehicle_type=row.get("vehicle_type") or "小型轿车",
                    engine_number=row.get("engine_number", ""),
                    colour=row.get("colour", ""),
                    seats=int(row.get("seats") or 5),
                    fuel_type=row.get("fuel_type") or "petrol",
                    manufacture_date=row.get("manufacture_date", ""),
                ),
                purchase_tax=PurchaseTax(
                    status=row.get("purchase_tax_status") or "paid",
                    record_number=row.get("purchase_tax_record", ""),
                    amount_cents=int(row.get("purchase_tax_cents") or 0),
                ),
                insurance=Insurance(
                    status=row.get("insurance_status") or "valid",
                    insurer=row.get("insurer", ""),
                    policy_number=row.get("policy_number", ""),
                    valid_from=row.get("insurance_valid_from", ""),
                    valid_to=row.get("insurance_valid_to", ""),
                ),
            )
        )
    return ReferenceData(owners=list(owners.values()), vehicles=vehicles)


def read_reference(path: Path | str) -> ReferenceData:
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        data = from_csv(text)
    else:
        data = ReferenceData.model_validate_json(text)
    ids = {o.id_number for o in data.owners}
    for v in data.vehicles:
        if v.owner_id_number not in ids:
            raise ValueError(f"vehicle {v.vin}: owner {v.owner_id_number} is not among the owners")
    return data


def load_into(store: Store, data: ReferenceData) -> tuple[int, int]:
    """Upsert a reference data set into the store's partner records; returns (owners, vehicles)."""
    return store.partner_records.load([o.model_dump() for o in data.owners], [v.model_dump() for v in data.vehicles])


# ---------------------------------------------------------------- realistic generator

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强文博思远子涵浩然雨桐梓萱一诺欣怡宇轩晨曦俊杰婷雪梅海燕红霞玉兰晓东"
AREAS = {
    "320102": "江苏省南京市玄武区",
    "320104": "江苏省南京市秦淮区",
    "320105": "江苏省南京市建邺区",
    "320106": "江苏省南京市鼓楼区",
    "320111": "江苏省南京市浦口区",
    "320113": "江苏省南京市栖霞区",
    "320114": "江苏省南京市雨花台区",
    "320115": "江苏省南京市江宁区",
    "320205": "江苏省无锡市锡山区",
    "320505": "江苏省苏州市虎丘区",
    "340104": "安徽省合肥市蜀山区",
    "310115": "上海市浦东新区",
}
STREETS = [
    "中山路",
    "北京东路",
    "汉中路",
    "龙蟠路",
    "江东中路",
    "应天大街",
    "双龙大道",
    "天元中路",
    "仙林大道",
    "珠江路",
    "广州路",
    "上海路",
]
COLOURS = ["白", "黑", "灰", "银", "蓝", "红", "绿", "棕"]
INSURERS = ["中国人民财产保险", "中国平安财产保险", "中国太平洋财产保险", "中华联合财产保险", "阳光财产保险"]
# WMI -> (manufacturer, [(brand, model, fuel, seats, vehicle type)]) ; Chinese makers start with L; a few imports
MAKERS: dict[str, tuple[str, list[tuple[str, str, str, int, str]]]] = {
    "LSV": (
        "上汽大众汽车有限公司",
        [
            ("大众", "朗逸", "petrol", 5, "小型轿车"),
            ("大众", "帕萨特", "petrol", 5, "小型轿车"),
            ("大众", "ID.3", "bev", 5, "小型轿车"),
        ],
    ),
    "LFV": (
        "一汽-大众汽车有限公司",
        [("大众", "速腾", "petrol", 5, "小型轿车"), ("奥迪", "A6L", "petrol", 5, "小型轿车")],
    ),
    "LSG": (
        "上汽通用汽车有限公司",
        [("别克", "君越", "petrol", 5, "小型轿车"), ("别克", "GL8", "petrol", 7, "小型普通客车")],
    ),
    "LVG": (
        "广汽丰田汽车有限公司",
        [("丰田", "凯美瑞", "hybrid", 5, "小型轿车"), ("丰田", "汉兰达", "petrol", 7, "小型普通客车")],
    ),
    "LHG": (
        "广汽本田汽车有限公司",
        [("本田", "雅阁", "petrol", 5, "小型轿车"), ("本田", "e:NP2", "bev", 5, "小型普通客车")],
    ),
    "LRW": (
        "特斯拉(上海)有限公司",
        [("特斯拉", "Model 3", "bev", 5, "小型轿车"), ("特斯拉", "Model Y", "bev", 5, "小型普通客车")],
    ),
    "LGX": (
        "比亚迪汽车工业有限公司",
        [
            ("比亚迪", "秦PLUS DM-i", "phev", 5, "小型轿车"),
            ("比亚迪", "汉EV", "bev", 5, "小型轿车"),
            ("比亚迪", "宋PLUS DM-i", "phev", 5, "小型普通客车"),
        ],
    ),
    "L6T": (
        "浙江吉利汽车有限公司",
        [("吉利", "星越L", "petrol", 5, "小型普通客车"), ("吉利", "帝豪", "petrol", 5, "小型轿车")],
    ),
    "LB3": ("上海蔚来汽车有限公司", [("蔚来", "ET5", "bev", 5, "小型轿车")]),
    "LNB": ("北京汽车股份有限公司", [("北京", "X7", "petrol", 5, "小型普通客车")]),
    "WBA": ("BMW AG (进口)", [("宝马", "X5", "petrol", 5, "小型普通客车")]),
    "WDD": ("Mercedes-Benz AG (进口)", [("奔驰", "S 400 L", "petrol", 5, "小型轿车")]),
    "JTD": ("Toyota Motor Corporation (进口)", [("丰田", "普拉多", "petrol", 7, "小型普通客车")]),
    "5YJ": ("Tesla, Inc. (进口)", [("特斯拉", "Model S", "bev", 5, "小型轿车")]),
}
WMI_WEIGHTS = {
    "LSV": 10,
    "LFV": 9,
    "LSG": 7,
    "LVG": 7,
    "LHG": 6,
    "LRW": 6,
    "LGX": 12,
    "L6T": 8,
    "LB3": 3,
    "LNB": 3,
    "WBA": 2,
    "WDD": 2,
    "JTD": 1,
    "5YJ": 1,
}


def make_id_number(rng: random.Random, area: str, birth: dt.date, male: bool) -> str:
    seq = rng.randrange(0, 100) * 10 + (rng.choice((1, 3, 5, 7, 9)) if male else rng.choice((0, 2, 4, 6, 8)))
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def make_vin(rng: random.Random, wmi: str, year: int) -> str:
    vds = "".join(rng.choice(VIN_CHARS) for _ in range(5))
    year_code = YEAR_CODES[(year - 1980) % 30]
    plant = rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
    serial = "".join(rng.choice("0123456789") for _ in range(6))
    body = wmi + vds + "0" + year_code + plant + serial
    return body[:8] + vin_check_digit(body) + body[9:]


PROBLEM_KINDS = ("insurance_missing", "insurance_expired", "purchase_tax_missing", "certificate_vin_mismatch")


def _make_owner(rng: random.Random, seen_ids: set[str]) -> Owner | None:
    """A new owner, or None when the drawn ID number is taken (the draw is then simply repeated)."""
    area = rng.choice(list(AREAS))
    male = rng.random() < 0.55
    birth = dt.date(rng.randint(1955, 2005), rng.randint(1, 12), rng.randint(1, 28))
    idn = make_id_number(rng, area, birth, male)
    if idn in seen_ids:
        return None
    seen_ids.add(idn)
    return Owner(
        id_number=idn,
        name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
        gender="M" if male else "F",
        birth_date=birth.isoformat(),
        address=f"{AREAS[area]}{rng.choice(STREETS)}{rng.randint(1, 399)}号",
        phone=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
    )


def _pick_model(rng: random.Random) -> tuple[str, tuple[str, str, str, int, str]]:
    """A maker (WMI) and one of its models: about 30% new-energy, so the fuel class is drawn first."""
    wmis = list(WMI_WEIGHTS)
    weights = [WMI_WEIGHTS[w] for w in wmis]
    want_ne = rng.random() < 0.30
    while True:
        wmi = rng.choices(wmis, weights)[0]
        options = [m for m in MAKERS[wmi][1] if (m[2] in NEW_ENERGY_FUELS) == want_ne]
        if options:
            return wmi, rng.choice(options)


def _records(rng: random.Random, today: dt.date, fuel: str) -> tuple[Insurance, PurchaseTax]:
    """The partner records of a vehicle in good order: valid insurance, purchase tax paid (or exempt)."""
    insurance = Insurance(
        status="valid",
        insurer=rng.choice(INSURERS),
        policy_number=f"PDZA{today.year}{rng.randrange(10**12):012d}",
        valid_from=(today - dt.timedelta(days=rng.randint(0, 5))).isoformat(),
        valid_to=(today + dt.timedelta(days=360)).isoformat(),
    )
    tax = PurchaseTax(
        status="exempt" if fuel in NEW_ENERGY_FUELS else "paid",
        record_number=f"{rng.randrange(10**15):015d}",
        amount_cents=0 if fuel in NEW_ENERGY_FUELS else rng.randint(80, 400) * 10000,
    )
    return insurance, tax


def _with_problem(
    rng: random.Random, today: dt.date, vin: str, insurance: Insurance, tax: PurchaseTax
) -> tuple[str | None, Insurance, PurchaseTax, str]:
    """About 7% of vehicles get one problem: (problem kind or None, insurance, tax, certificate VIN)."""
    r = rng.random()
    if r < 0.03:
        return "insurance_missing", Insurance(status="missing"), tax, vin
    if r < 0.04:
        expired = {"valid_to": (today - dt.timedelta(days=3)).isoformat(), "status": "expired"}
        return "insurance_expired", insurance.model_copy(update=expired), tax, vin
    if r < 0.06:
        return "purchase_tax_missing", insurance, PurchaseTax(status="missing"), vin
    if r < 0.07:
        pos = rng.choice((11, 12, 13, 14, 15, 16))
        cert_vin = vin[:pos] + rng.choice([c for c in "0123456789" if c != vin[pos]]) + vin[pos + 1 :]
        return "certificate_vin_mismatch", insurance, tax, cert_vin
    return None, insurance, tax, vin


def _make_vehicle(
    rng: random.Random, today: dt.date, owner: Owner, number: int, seen_vins: set[str], problems: dict[str, list[str]]
) -> Vehicle | None:
    """A new vehicle of `owner`, or None when the drawn VIN is taken; a problem it gets is listed in `problems`."""
    wmi, (brand, model, fuel, seats, vtype) = _pick_model(rng)
    year = today.year if rng.random() < 0.8 else today.year - 1
    vin = make_vin(rng, wmi, year)
    if vin in seen_vins:
        return None
    seen_vins.add(vin)
    made = today - dt.timedelta(days=rng.randint(10, 200))
    problem, insurance, tax, cert_vin = _with_problem(rng, today, vin, *_records(rng, today, fuel))
    if problem is not None:
        problems[problem].append(vin)
    return Vehicle(
        vin=vin,
        owner_id_number=owner.id_number,
        booking_number=f"BK{today:%Y%m%d}{number:05d}",
        certificate=Certificate(
            certificate_number=f"W{rng.randrange(10**13):013d}",
            vin=cert_vin,
            manufacturer=MAKERS[wmi][0],
            brand=brand,
            model=model,
            vehicle_type=vtype,
            engine_number="" if fuel == "bev" else f"{rng.choice('ABCDEFGHJK')}{rng.randrange(10**7):07d}",
            colour=rng.choice(COLOURS),
            seats=seats,
            fuel_type=fuel,
            manufacture_date=made.isoformat(),
        ),
        purchase_tax=tax,
        insurance=insurance,
    )


def generate(vehicles: int, seed: int = 1, today: dt.date | None = None) -> tuple[ReferenceData, dict[str, list[str]]]:
    """A realistic data set of owners with new vehicles awaiting registration, plus a few problem records (returned by kind).

    The same seed and day give the same data set."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    owners: list[Owner] = []
    out: list[Vehicle] = []
    problems: dict[str, list[str]] = {kind: [] for kind in PROBLEM_KINDS}
    seen_vins: set[str] = set()
    seen_ids: set[str] = set()
    while len(out) < vehicles:
        owner = _make_owner(rng, seen_ids)
        if owner is None:
            continue
        owners.append(owner)
        for _ in range(1 if rng.random() < 0.95 else 2):
            if len(out) >= vehicles:
                break
            vehicle = _make_vehicle(rng, today, owner, len(out) + 1, seen_vins, problems)
            if vehicle is not None:
                out.append(vehicle)
    return ReferenceData(owners=owners, vehicles=out), problems


def write_reference(data: ReferenceData, out: Path | str) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        out.write_text(to_csv(data), encoding="utf-8")
    else:
        out.write_text(json.dumps(data.model_dump(), ensure_ascii=False, indent=1), encoding="utf-8")
