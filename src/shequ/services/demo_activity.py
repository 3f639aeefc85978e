"""Life in the demo county: what synthetic residents and the demo staff have done.

``shequ demo`` builds a county with facilities and one sign-in per kind of user; this
module fills the resident services around the demo worker's community and street, so
that every page has something on it and every staff workbench has work waiting:

- a day-care centre of the worker's community, recorded by the worker without its floor
  area and opening hours: a gap in the records that the worker, the street, the county
  planner and the administrator all see;
- bookable rooms and fields with bookings requested, approved, rejected and cancelled,
  in the past and in the next days (with free slots left);
- volunteer activities held and to come, with sign-ups, hours awaiting the organiser's
  confirmation and hours confirmed;
- that day-care centre taken to the last place, with a waiting list, offers and
  enrolments, and a nursery of the street with offers;
- reviews of facilities, bookings, activities, care places and requests, some waiting
  for moderation;
- service requests in every state of the workflow, some overdue, with their history.

Everything goes through the services' own functions, so every rule holds (booking
notice and slots, eligibility, the waitlist order, workflow transitions, jurisdiction):
earlier steps are taken at earlier ``now`` values, the way they would have happened.
Who acts, where and when is drawn from the demo's seed (a NumPy Generator), so the same
seed and ``now`` give the same activity.  Everything is synthetic and says so: user and
volunteer names carry 合成, free text ends in :data:`MARK`, addresses are 合成地址, and the
registry's meta table records the seed and source (``activity_*`` keys).

Running it again for the same built demo adds nothing; after the demo is rebuilt (new
facility rows) the previous activity of the demo's accounts is removed and made again.
The day-care centre and the rooms' bookings belong to the build and go with it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shequ.catalog import Catalog, load_catalog
from shequ.errors import NotFoundError
from shequ.registry import queries
from shequ.registry.models import Division, Facility, FacilityStatus
from shequ.services.accounts.models import Resident, Role, User
from shequ.services.accounts.passwords import hash_password
from shequ.services.accounts.residents import create_resident
from shequ.services.accounts.users import DEMO_PASSWORD, create_user
from shequ.services.bookings import service as bookings
from shequ.services.bookings.clock import to_utc
from shequ.services.bookings.models import BookableResource, Booking, BookingSeries
from shequ.services.bookings.rules import Booker
from shequ.services.care import service as care
from shequ.services.care.models import CareApplication
from shequ.services.care.rules import PriorityRules, load_priority_rules
from shequ.services.requests import service as requests
from shequ.services.requests.definitions import RequestCatalog, load_request_catalog
from shequ.services.requests.models import ServiceRequest
from shequ.services.reviews import service as reviews
from shequ.services.reviews.models import Review, SubjectKind
from shequ.services.upkeep import create_facility
from shequ.services.volunteers import service as volunteers
from shequ.services.volunteers.models import (
    OrganiserKind,
    Volunteer,
    VolunteerActivity,
    VolunteerSignup,
)

__all__ = ["KINDS", "MARK", "RESIDENT_NAMES", "populate_demo_activity"]

# Ends every piece of free text the demo writes (purposes, descriptions, comments, notes).
MARK = "（合成）"
# The synthetic residents (a small fixed list; the first eight live in the demo worker's
# community, the rest in the other communities of the street) and their usernames.
RESIDENT_NAMES = ("王秀英", "李建国", "张桂兰", "刘志强", "陈淑珍", "杨明华", "赵丽娟",
                  "黄伟东", "周玉兰", "吴海涛", "徐静怡", "孙德胜")
USERNAME = "demo_resident_{:02d}"
IN_WORKER_COMMUNITY = 8
# Places of the day-care centre the demo worker's community opened.
DAY_CARE_PLACES = 20
# Beneficiaries of care places: surname × given name, unique for the first 160.
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡",
            "朱", "高", "林")
ELDER_GIVEN = ("桂芳", "淑兰", "玉珍", "秀兰", "凤英", "德福", "长顺", "振华", "国庆", "文斌")
CHILD_GIVEN = ("子涵", "一诺", "浩然", "欣怡", "梓轩")
# What counts are returned for, in this order.
KINDS = ("residents", "facilities", "resources", "bookings", "care_applications", "volunteers",
         "activities", "signups", "requests", "request_events", "reviews")
# A separate stream of the demo's seed, so that the county's own draws stay as they are.
_STREAM = 2


@dataclass(frozen=True, slots=True)
class _Room:
    """The room or field a facility type offers, and whether a booking needs approval."""

    name: str
    capacity: int
    approval: bool


ROOMS = {
    "comprehensive_service_facility": _Room("多功能活动室", 40, True),
    "street_service_centre": _Room("会议室", 20, True),
    "cultural_activity_station": _Room("排练室", 30, False),
    "cultural_activity_centre": _Room("舞蹈排练厅", 50, False),
    "sports_field": _Room("篮球场", 20, True),
    "sports_venue": _Room("羽毛球馆", 16, False),
    "volunteer_service_station": _Room("志愿者活动室", 15, True),
}
PURPOSES = ("合唱团排练", "书法兴趣班", "居民议事会", "太极拳练习", "亲子阅读活动",
            "楼道长例会", "广场舞排练", "老年大学课程")
COMMENTS = ("环境整洁，工作人员很热情", "活动室宽敞，预约方便", "开放时间再长一些就更好了",
            "设施有些老旧，希望更新", "服务周到，老人很满意", "志愿者认真负责",
            "处理及时，感谢社区", "照料中心饭菜可口")


@dataclass(frozen=True, slots=True)
class _Person:
    """A synthetic resident: the account, the record and who they book as."""

    user: User
    resident: Resident

    @property
    def booker(self) -> Booker:
        return Booker(self.user.id, Role.RESIDENT.value, self.resident.division_code)


@dataclass
class _Demo:
    """What every step needs: the session, the clock, the draws, who is who, the counts."""

    session: Session
    now: dt.datetime
    rng: np.random.Generator
    worker: User
    officer: User
    resident: _Person
    community: Division
    township: str  # 12-digit code of the demo officer's street
    people: list[_Person] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def at(self, days: float = 0, hours: float = 0) -> dt.datetime:
        """``now`` shifted by ``days`` and ``hours`` (China Standard Time, whole minutes)."""
        return (self.now + dt.timedelta(days=days, hours=hours)).replace(second=0)

    def staff_over(self, division_code: str) -> User:
        """The demo worker for their community, else the demo officer."""
        return self.worker if division_code == self.community.code else self.officer

    def pick(self, items: Sequence[_Person], k: int) -> list[_Person]:
        """``k`` different people from ``items``, drawn from the seed."""
        return [items[int(i)] for i in self.rng.choice(len(items), size=k, replace=False)]


def populate_demo_activity(session: Session, *, county_code: str, seed: int,
                           now: dt.datetime, catalog: Catalog | None = None,
                           request_catalog: RequestCatalog | None = None,
                           care_rules: PriorityRules | None = None) -> dict[str, int]:
    """Make the demo county's resident services lived-in; rows added, by kind.

    ``now`` is China Standard Time without a zone (what :func:`~shequ.services.bookings.
    clock.local_now` gives).  Needs the built demo and its accounts
    (:func:`~shequ.services.accounts.demo.ensure_demo_accounts`).  Returns zeros when the
    activity of this build is already there.  Flushes; the caller commits.
    """
    info = queries.meta(session)
    marker = info.get("built_at", "")  # a rebuild (another seed too) gives a new one
    if info.get("activity_for") == marker:
        return dict.fromkeys(KINDS, 0)
    worker, officer, demo_resident = (_account(session, name) for name in (
        "demo_worker", "demo_officer", "demo_resident"))
    if worker.jurisdiction_code is None or officer.jurisdiction_code is None \
            or demo_resident.resident_id is None:
        raise NotFoundError("the demo accounts lack their community or resident record; "
                            "run `shequ demo` to create them")
    if not worker.jurisdiction_code.startswith(county_code[:6]):
        raise NotFoundError(f"the demo worker's community {worker.jurisdiction_code} is not "
                            f"in county {county_code}; run `shequ demo` for that county")
    if "activity_for" in info:  # made for an earlier build of the demo: start again
        _remove_previous_activity(session)
    resident_record = session.get(Resident, demo_resident.resident_id)
    if resident_record is None:
        raise NotFoundError(f"no resident {demo_resident.resident_id} for demo_resident")
    demo = _Demo(session=session, now=now.replace(microsecond=0),
                 rng=np.random.default_rng([seed, _STREAM]), worker=worker, officer=officer,
                 resident=_Person(demo_resident, resident_record),
                 community=queries.division(session, worker.jurisdiction_code),
                 township=officer.jurisdiction_code)
    demo.people = _synthetic_residents(demo)
    _day_care_centre(demo, catalog or load_catalog(), seed=seed)
    rooms = _bookings(demo)
    care_facilities = _care(demo, care_rules or load_priority_rules())
    past_activities = _volunteering(demo)
    closed_requests = _requests(demo, request_catalog or load_request_catalog())
    _reviews(demo, rooms, care_facilities, past_activities, closed_requests)
    session.flush()
    queries.set_meta(session, activity_for=marker, activity_seed=str(seed),
                     activity_source=f"synthetic: shequ demo activity, seed {seed}",
                     activity_now=demo.now.isoformat(timespec="minutes"))
    return {kind: demo.counts[kind] for kind in KINDS}


def _account(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no demo account {username!r}; ensure_demo_accounts creates "
                            "the demo's sign-ins before its activity")
    return user


def _remove_previous_activity(session: Session) -> None:
    """Delete what the demo's accounts did for an earlier build (their accounts stay).

    Rebuilding replaced the facilities, so bookings and care applications went with
    them; requests, reviews and volunteering name divisions and would be left over.
    """
    ids = list(session.scalars(select(User.id).where(
        User.username.startswith("demo_", autoescape=True))))
    session.execute(delete(Review).where(Review.user_id.in_(ids)))
    session.execute(delete(ServiceRequest).where(ServiceRequest.submitter_id.in_(ids)))
    session.execute(delete(VolunteerActivity).where(
        VolunteerActivity.organiser_user_id.in_(ids)))
    session.execute(delete(Volunteer).where(Volunteer.user_id.in_(ids)))
    session.execute(delete(Booking).where(Booking.user_id.in_(ids)))
    session.execute(delete(BookingSeries).where(BookingSeries.user_id.in_(ids)))
    session.execute(delete(CareApplication).where(CareApplication.applicant_user_id.in_(ids)))
    session.flush()


def _synthetic_residents(demo: _Demo) -> list[_Person]:
    """The synthetic residents' records and accounts (existing ones are kept)."""
    session = demo.session
    others = [u for u in queries.communities_under(session, demo.township[:9])
              if u.code != demo.community.code] or [demo.community]
    shared_hash: str | None = None
    people = []
    for index, name in enumerate(RESIDENT_NAMES):
        username = USERNAME.format(index + 1)
        user = session.scalar(select(User).where(User.username == username))
        if user is not None and user.resident_id is not None:
            record = session.get(Resident, user.resident_id)
            if record is not None:
                people.append(_Person(user, record))
                continue
        home = (demo.community if index < IN_WORKER_COMMUNITY
                else others[(index - IN_WORKER_COMMUNITY) % len(others)])
        groups = ["elderly"] if index % 3 == 0 else []
        record = create_resident(session, name=name, division_code=home.code,
                                 address=f"{home.name}（合成地址 synthetic）",
                                 priority_groups=groups)
        if shared_hash is None:
            # One slow hash for all: the demo's published password, refused in production.
            shared_hash = hash_password(DEMO_PASSWORD)
        user = create_user(session, username=username, password_hash=shared_hash,
                           role=Role.RESIDENT, display_name=f"{name}（合成）",
                           resident_id=record.id)
        people.append(_Person(user, record))
        demo.counts["residents"] += 1
    return people


def _day_care_centre(demo: _Demo, catalog: Catalog, *, seed: int) -> Facility:
    """The day-care centre the demo worker's community opened four months ago, recorded by
    the worker with its place and capacity but not yet its floor area or opening hours
    (:func:`~shequ.services.upkeep.completeness` counts both as gaps)."""
    unit = demo.community
    short = unit.name.removesuffix("居民委员会").removesuffix("村民委员会")
    facility = create_facility(demo.session, catalog, demo.worker, {
        "external_id": f"demo-{seed}-life-0001", "type_code": "elderly_day_care",
        "division_code": unit.code, "name": f"{short}老年人日间照料中心",
        "address": f"{unit.name}（合成地址 synthetic）",
        "opened_on": demo.at(days=-120).date(), "capacity": DAY_CARE_PLACES,
        "operator_kind": "government",
        "longitude": (unit.longitude or 0.0) + 0.0008,
        "latitude": (unit.latitude or 0.0) - 0.0006})
    # The editor's service leaves provenance to imports; like every row of the demo, this
    # one is made up and says so.
    facility.synthetic = True
    facility.source = f"synthetic: shequ demo activity, seed {seed}"
    demo.counts["facilities"] += 1
    return facility


# -- bookings ---------------------------------------------------------------------------

def _bookable_facilities(demo: _Demo) -> list[Facility]:
    """The community's and the street's own bookable venues, and one sports ground of
    the street when neither has one."""
    in_service = (select(Facility).where(Facility.type_code.in_(list(ROOMS)),
                                         Facility.status == FacilityStatus.IN_SERVICE.value)
                  .order_by(Facility.division_code, Facility.type_code, Facility.id))
    chosen = list(demo.session.scalars(in_service.where(
        Facility.division_code.in_([demo.community.code, demo.township]))))
    if not any(f.type_code in ("sports_field", "sports_venue") for f in chosen):
        sports = demo.session.scalars(in_service.where(
            Facility.division_code.startswith(demo.township[:9]),
            Facility.type_code.in_(["sports_field", "sports_venue"]))).first()
        if sports is not None:
            chosen.append(sports)
    return chosen


def _free_slot(demo: _Demo, res: BookableResource, day: dt.date, *, booked_at: dt.datetime
               ) -> tuple[dt.datetime, dt.datetime] | None:
    """A free start and end on ``day`` or one of the six days after (one or two slots)."""
    earliest = booked_at + dt.timedelta(minutes=res.min_notice_minutes)
    for offset in range(7):
        start = dt.datetime.combine(day + dt.timedelta(days=offset), dt.time())
        views = bookings.slot_views(demo.session, res.id, start, start + dt.timedelta(days=1))
        free = [i for i, v in enumerate(views) if not v.taken and v.start >= earliest]
        if not free:
            continue
        first = free[int(demo.rng.integers(len(free)))]
        end = views[first].end
        following = views[first + 1] if first + 1 < len(views) else None
        if (following is not None and not following.taken and following.start == end
                and demo.rng.random() < 0.5
                and 2 * res.slot_minutes <= res.max_duration_minutes):
            end = following.end
        return views[first].start, end
    return None


def _book(demo: _Demo, res: BookableResource, person: _Person, *, day: dt.date,
          booked_at: dt.datetime) -> Booking | None:
    found = _free_slot(demo, res, day, booked_at=booked_at)
    if found is None:
        return None
    purpose = PURPOSES[int(demo.rng.integers(len(PURPOSES)))] + MARK
    attendees = int(demo.rng.integers(3, min(res.capacity or 12, 12) + 1))
    booking = bookings.book(demo.session, resource_id=res.id, booker=person.booker,
                            starts_at=found[0], ends_at=found[1], purpose=purpose,
                            attendees=attendees, now=booked_at)
    demo.counts["bookings"] += 1
    return booking


@dataclass(frozen=True, slots=True)
class _Venue:
    """A resource made bookable, with its facility."""

    resource: BookableResource
    facility: Facility


def _bookings(demo: _Demo) -> list[_Venue]:
    """Rooms and fields opened for booking, and their bookings in every state.

    Per resource: two past approved bookings; then, if bookings need approval, one
    pending, one approved, one rejected and one cancelled in the next days, else two
    approved and one cancelled.  The demo resident has a past approved booking and a
    pending one of their community's first room that needs approval, and an approved one
    of the first that does not.
    """
    venues = []
    for facility in _bookable_facilities(demo):
        room = ROOMS[facility.type_code]
        res = bookings.create_resource(
            demo.session, facility_id=facility.id, name=room.name + MARK,
            capacity=room.capacity, approval_required=room.approval,
            max_advance_days=30, now=demo.at(days=-60))
        demo.counts["resources"] += 1
        venues.append(_Venue(res, facility))
    people = demo.people
    for venue in venues:
        res, decider = venue.resource, demo.staff_over(venue.facility.division_code)
        for _ in range(2):
            start_day = demo.at(days=-int(demo.rng.integers(2, 15))).date()
            booked_at = dt.datetime.combine(start_day, dt.time(9)) - dt.timedelta(days=4)
            past = _book(demo, res, demo.pick(people, 1)[0], day=start_day, booked_at=booked_at)
            if past is not None and res.approval_required:
                bookings.decide(demo.session, past.id, approve=True, decided_by=decider.id,
                                now=booked_at + dt.timedelta(days=1))
        plan = (("pending", "approved", "rejected", "cancelled") if res.approval_required
                else ("approved", "approved", "cancelled"))
        for state in plan:
            day = demo.at(days=int(demo.rng.integers(1, 10))).date()
            booked_at = demo.at(days=-3 if state in ("rejected", "cancelled") else -2)
            made = _book(demo, res, demo.pick(people, 1)[0], day=day, booked_at=booked_at)
            if made is None:
                continue
            if state == "cancelled":
                bookings.cancel(demo.session, made.id, now=demo.at(days=-1))
            elif res.approval_required and state in ("approved", "rejected"):
                bookings.decide(demo.session, made.id, approve=state == "approved",
                                decided_by=decider.id, now=demo.at(days=-1),
                                note=None if state == "approved" else "该时段已安排社区活动" + MARK)
    own = [v for v in venues if v.facility.division_code == demo.community.code]
    needs_approval = next((v.resource for v in own if v.resource.approval_required), None)
    open_room = next((v.resource for v in own if not v.resource.approval_required), None)
    if needs_approval is not None:
        start_day = demo.at(days=-6).date()
        booked_at = dt.datetime.combine(start_day, dt.time(9)) - dt.timedelta(days=4)
        past = _book(demo, needs_approval, demo.resident, day=start_day, booked_at=booked_at)
        if past is not None:
            bookings.decide(demo.session, past.id, approve=True, decided_by=demo.worker.id,
                            now=booked_at + dt.timedelta(days=1))
        _book(demo, needs_approval, demo.resident, day=demo.at(days=3).date(),
              booked_at=demo.at(days=-1))
    if open_room is not None:
        _book(demo, open_room, demo.resident, day=demo.at(days=4).date(),
              booked_at=demo.at(days=-1))
    return venues


# -- care places ------------------------------------------------------------------------

def _care_facility(demo: _Demo, type_code: str) -> Facility | None:
    """The smallest centre of ``type_code`` in the community, else in the street."""
    for prefix in (demo.community.code, demo.township[:9]):
        found = [f for f in care.care_facilities(demo.session, division_prefix=prefix)
                 if f.type_code == type_code and (f.capacity or 0) >= 2]
        if found:
            return min(found, key=lambda f: (f.capacity or 0, f.id))
    return None


def _birth(demo: _Demo, *, years: int = 0, months: int = 0) -> dt.date:
    """A birth date ``years`` and ``months`` before today (the day drawn from the seed)."""
    total = demo.now.year * 12 + demo.now.month - 1 - years * 12 - months
    return dt.date(total // 12, total % 12 + 1, int(demo.rng.integers(1, 29)))


def _apply(demo: _Demo, rules: PriorityRules, facility: Facility, person: _Person, *,
           name: str, birth: dt.date, when: dt.datetime, declare: bool = True
           ) -> CareApplication:
    declared = []
    if declare and rules.groups and demo.rng.random() < 0.3:
        declared = [rules.groups[int(demo.rng.integers(len(rules.groups)))]]
    made = care.apply(demo.session, rules, facility_id=facility.id,
                      applicant_user_id=person.user.id, beneficiary_name=name,
                      beneficiary_birth_date=birth,
                      division_code=person.resident.division_code,
                      priority_groups=declared,
                      resident_groups=person.resident.priority_group_list,
                      resident_id=person.resident.id, now=when)
    demo.counts["care_applications"] += 1
    return made


def _care(demo: _Demo, rules: PriorityRules) -> list[Facility]:
    """A day-care centre taken to the last place with a waiting list, and a nursery.

    Day care with C places: C + 6 applications over three months; C offers two months
    ago, one declined and its place offered on and accepted; one waiting application
    withdrawn, one enrolment ended ten days ago and its place offered two days ago.
    The demo resident applied yesterday and waits.  Ends with C − 1 enrolled, one
    ended, one declined, one withdrawn, one open offer and four waiting.  Nursery: three
    applications, three offers: one accepted, one declined, one open.
    """
    used = []
    session = demo.session
    day_care = _care_facility(demo, "elderly_day_care")
    if day_care is not None:
        used.append(day_care)
        places = int(day_care.capacity or 0)
        for k in range(places + 6):
            name = SURNAMES[k % len(SURNAMES)] + ELDER_GIVEN[(k // len(SURNAMES) + k)
                                                              % len(ELDER_GIVEN)]
            _apply(demo, rules, day_care, demo.people[k % len(demo.people)], name=name,
                   birth=_birth(demo, years=int(demo.rng.integers(61, 93))),
                   when=demo.at(days=-90 + 28 * k / (places + 6), hours=1))
        offered = care.fill_free_places(session, rules, day_care.id, now=demo.at(days=-60))
        for app in offered[:-1]:
            care.accept(session, rules, app.id, now=demo.at(days=-59))
        care.decline(session, rules, offered[-1].id, now=demo.at(days=-59))
        for app in care.fill_free_places(session, rules, day_care.id, now=demo.at(days=-58)):
            care.accept(session, rules, app.id, now=demo.at(days=-57))
        queue = care.waitlist(session, rules, day_care.id, on=demo.at(days=-20).date())
        care.withdraw(session, rules, queue[-1].application.id, now=demo.at(days=-20))
        care.end_enrolment(session, rules, offered[0].id, now=demo.at(days=-10))
        care.fill_free_places(session, rules, day_care.id, now=demo.at(days=-2))
        _apply(demo, rules, day_care, demo.resident, name="赵桂香",
               birth=_birth(demo, years=72), when=demo.at(days=-1), declare=False)
    nursery = _care_facility(demo, "nursery")
    if nursery is not None:
        used.append(nursery)
        apps = [_apply(demo, rules, nursery, demo.people[-1 - k],
                       name=SURNAMES[-1 - k] + CHILD_GIVEN[k],
                       birth=_birth(demo, months=int(demo.rng.integers(8, 30))),
                       when=demo.at(days=-6, hours=k)) for k in range(3)]
        care.fill_free_places(session, rules, nursery.id, now=demo.at(days=-4))
        care.accept(session, rules, apps[0].id, now=demo.at(days=-3))
        care.decline(session, rules, apps[1].id, now=demo.at(days=-3))
    return used


# -- volunteering -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Plan:
    """One volunteer activity: when, who runs it, how many sign up and what happens."""

    title: str
    days: int
    hour: int
    hours: int
    by_community: bool
    places: int | None
    signups: int
    recorded: int = 0
    confirmed: int = 0
    rejected: int = 0
    withdrawn: int = 0
    with_resident: bool = False


ACTIVITIES = (
    _Plan("重阳节敬老院探访", -30, 9, 3, True, 10, 5, recorded=5, confirmed=4, rejected=1),
    _Plan("社区环境清洁日", -16, 8, 2, True, None, 4, recorded=4, confirmed=4),
    _Plan("老年人智能手机教学", -4, 14, 2, True, 12, 5, recorded=4, with_resident=True),
    _Plan("助老送餐服务", -6, 11, 2, False, 6, 3, recorded=3),
    _Plan("垃圾分类宣传", 2, 9, 2, True, 8, 4),
    _Plan("儿童安全知识讲座志愿者", 5, 15, 2, True, 10, 3, with_resident=True),
    _Plan("社区义诊协助", 9, 8, 4, False, 6, 2, withdrawn=1),
)
VOLUNTEERS = 8  # the first synthetic residents volunteer, and so does the demo resident
SOCIAL_ORGANISATION = "正定县阳光志愿者协会（合成）"


def _volunteering(demo: _Demo) -> list[VolunteerActivity]:
    """Volunteers, the activities of :data:`ACTIVITIES` and their hours; the activities
    already held are returned."""
    session = demo.session
    crew = demo.people[:VOLUNTEERS]
    for person in [*crew, demo.resident]:
        if volunteers.volunteer_of(session, person.user.id) is None:
            volunteers.register(session, user_id=person.user.id,
                                division_code=person.resident.division_code,
                                display_name=person.user.display_name
                                if person is not demo.resident else "演示居民（合成）",
                                skills="助老、宣传", now=demo.at(days=-200))
            demo.counts["volunteers"] += 1
    station = session.scalars(select(Facility).where(
        Facility.division_code == demo.community.code,
        Facility.type_code == volunteers.STATION_TYPE).order_by(Facility.id)).first()
    elsewhere = next((p.resident.division_code for p in demo.people
                      if p.resident.division_code != demo.community.code),
                     demo.community.code)
    held = []
    for plan in ACTIVITIES:
        starts = dt.datetime.combine(demo.at(days=plan.days).date(), dt.time(plan.hour))
        ends = starts + dt.timedelta(hours=plan.hours)
        organiser = demo.worker if plan.by_community else demo.officer
        act = volunteers.publish(
            session, division_code=demo.community.code if plan.by_community else elsewhere,
            organiser_kind=OrganiserKind.COMMUNITY if plan.by_community
            else OrganiserKind.SOCIAL_ORGANISATION,
            organiser_name=demo.community.name if plan.by_community else SOCIAL_ORGANISATION,
            organiser_user_id=organiser.id, title=plan.title,
            description=f"{plan.title}，欢迎报名{MARK}", starts_at=starts, ends_at=ends,
            places=plan.places,
            station_facility_id=station.id if station and plan.by_community else None,
            now=min(starts - dt.timedelta(days=14), demo.at(days=-3)))
        demo.counts["activities"] += 1
        team = demo.pick(crew, plan.signups - int(plan.with_resident))
        if plan.with_resident:
            team.insert(0, demo.resident)
        signed_at = min(starts - dt.timedelta(days=7), demo.at(days=-2))
        rows = []
        for k, person in enumerate(team):
            rows.append(volunteers.sign_up(session, activity_id=act.id, user_id=person.user.id,
                                           now=signed_at + dt.timedelta(hours=k)))
            demo.counts["signups"] += 1
        for row in rows[len(rows) - plan.withdrawn:]:
            volunteers.withdraw(session, row.id, now=signed_at + dt.timedelta(days=1))
        length = plan.hours * 60
        confirmer = demo.staff_over(act.division_code)
        for k, (row, person) in enumerate(zip(rows[:plan.recorded], team, strict=False)):
            minutes = length - 30 * int(demo.rng.integers(0, 2))
            volunteers.record_hours(session, row.id, minutes=minutes, recorded_by=person.user.id,
                                    now=ends + dt.timedelta(hours=1))
            decided = ends + dt.timedelta(days=1)
            if k < plan.confirmed:
                volunteers.confirm_hours(session, row.id, confirmed_by=confirmer.id, now=decided)
            elif k < plan.confirmed + plan.rejected:
                volunteers.confirm_hours(session, row.id, confirmed_by=confirmer.id,
                                         approve=False, now=decided)
        if ends <= demo.now:
            held.append(act)
    return held


# -- service requests -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Case:
    """A request: what, where, by whom, how long ago, and the steps taken since.

    ``who`` is an index into the synthetic residents, or -1 for the demo resident;
    ``steps`` are (workflow action, hours before now) in order; a ``rate`` step is the
    submitter's rating.
    """

    code: str
    answers: tuple[tuple[str, str], ...]
    text: str
    who: int
    hours_ago: float
    steps: tuple[tuple[str, float], ...] = ()
    elsewhere: bool = False  # in another community of the street
    about_street: bool = False  # about the street's own centre (answered by the street)


CASES = (
    _Case("public_repair", (("fixture", "streetlight"),), "楼下路灯不亮", -1, 3),
    _Case("elderly_help", (("need", "visit"), ("lives_alone", "yes")),
          "独居老人需要上门探访", 1, 30),
    _Case("public_repair", (("fixture", "path"),), "小区门口路面破损", 2, 20,
          (("accept", 18),)),
    _Case("public_repair", (("fixture", "fitness"),), "健身器材螺丝松动", 3, 50,
          (("accept", 48), ("assign", 47))),
    _Case("public_repair", (("fixture", "streetlight"),), "广场照明灯损坏", 4, 100,
          (("accept", 98), ("assign", 97), ("start", 90))),
    _Case("elderly_help", (("need", "meals"),), "行动不便，需要助餐", 5, 40,
          (("accept", 39), ("assign", 39), ("start", 38), ("resolve", 30))),
    _Case("public_repair", (("fixture", "path"),), "人行道井盖松动", -1, 240,
          (("accept", 236), ("assign", 235), ("start", 220), ("resolve", 200),
           ("close", 190), ("rate", 180))),
    _Case("public_repair", (("fixture", "other"),), "垃圾桶破损（与已有报修重复）", 6, 144,
          (("close", 140),)),
    _Case("public_repair", (("fixture", "fitness"),), "单杠晃动", 7, 216,
          (("accept", 214), ("assign", 213), ("start", 200), ("resolve", 190),
           ("close", 180), ("reopen", 48))),
    _Case("facility_complaint", (("topic", "hours"),), "周一上午未按时开门", 0, 10,
          about_street=True),
    _Case("facility_complaint", (("topic", "service"),), "窗口人员态度需改进", 8, 150,
          (("accept", 148), ("assign", 147), ("start", 140)), elsewhere=True),
    _Case("public_repair", (("fixture", "streetlight"),), "村口路灯闪烁", 9, 5,
          elsewhere=True),
    _Case("elderly_help", (("need", "cleaning"),), "需要助洁服务", 10, 120,
          (("accept", 118), ("assign", 117), ("start", 100), ("resolve", 80),
           ("close", 72)), elsewhere=True),
)
CLOSING_NOTES = {"close": "已处理完毕，回访满意", "resolve": "已安排维修人员处理",
                 "reopen": "问题再次出现"}


def _requests(demo: _Demo, catalog: RequestCatalog) -> list[tuple[ServiceRequest, User]]:
    """The requests of :data:`CASES` with their history; the closed ones and their
    submitters are returned."""
    session = demo.session
    street_centre = session.scalars(select(Facility).where(
        Facility.division_code == demo.township,
        Facility.status == FacilityStatus.IN_SERVICE.value).order_by(Facility.id)).first()
    closed = []
    for case in CASES:
        person = demo.resident if case.who < 0 else demo.people[case.who]
        division = (queries.division(session, person.resident.division_code)
                    if case.elsewhere else demo.community)
        facility = street_centre if case.about_street else None
        jitter = demo.rng.uniform(-0.002, 0.002, size=2)
        lon = (division.longitude or 0.0) + float(jitter[0])
        lat = (division.latitude or 0.0) + float(jitter[1])
        if facility is not None and facility.longitude is not None:
            lon, lat = facility.longitude, facility.latitude or lat
        draft = requests.RequestDraft(
            service_code=case.code, description=case.text + MARK, longitude=lon, latitude=lat,
            address=f"{division.name}（合成地址 synthetic）",
            division_code=facility.division_code if facility else division.code,
            attributes=dict(case.answers), facility_id=facility.id if facility else None)
        made = requests.submit_request(session, catalog, draft, submitter=person.user,
                                       now=to_utc(demo.at(hours=-case.hours_ago))).request
        demo.counts["requests"] += 1
        demo.counts["request_events"] += 1
        handler = demo.staff_over(made.responsible_code)
        for action, hours_ago in case.steps:
            when = to_utc(demo.at(hours=-hours_ago))
            if action == "rate":
                requests.rate(session, made, user=person.user, rating=4,
                              comment="处理及时" + MARK, now=when)
            else:
                requests.act(session, catalog, made,
                             user=person.user if action == "reopen" else handler,
                             action=action, now=when,
                             assignee_id=handler.id if action == "assign" else None,
                             note=CLOSING_NOTES[action] + MARK if action in CLOSING_NOTES
                             else None)
            demo.counts["request_events"] += 1
        if made.status == "closed":
            closed.append((made, person.user))
    session.flush()
    return closed


# -- reviews ----------------------------------------------------------------------------

def _review(demo: _Demo, person: User, kind: SubjectKind, subject_id: object, *,
            comment: str | None, moderate: bool | None = None,
            score: int | None = None) -> Review:
    """One review; ``moderate`` True publishes the comment, False hides it, None leaves
    it waiting."""
    made = reviews.submit(demo.session, user_id=person.id, subject_kind=kind.value,
                          subject_id=str(subject_id),
                          score=score if score is not None else int(demo.rng.integers(3, 6)),
                          comment=comment + MARK if comment else None,
                          now=demo.at(days=-1))
    demo.counts["reviews"] += 1
    if moderate is not None:
        reviews.moderate(demo.session, made.id, approve=moderate,
                         moderated_by=demo.staff_over(made.division_code).id,
                         note=None if moderate else "含与服务无关的内容" + MARK,
                         now=demo.at(hours=-12))
    return made


def _reviews(demo: _Demo, venues: list[_Venue], care_facilities: list[Facility],
             held: list[VolunteerActivity],
             closed: list[tuple[ServiceRequest, User]]) -> None:
    """Scores and comments: eight of facilities (two comments published, one hidden, two
    waiting, three without comment), two of past bookings, two of volunteer activities
    (one published), one of a care place, one of a closed request; the demo resident
    rates their community's first venue (comment waiting) and their past booking."""
    session = demo.session
    facilities = [v.facility for v in venues] + care_facilities
    moderation: tuple[bool | None, ...] = (True, True, False, None, None)
    for k in range(8 if facilities else 0):
        _review(demo, demo.people[k].user, SubjectKind.FACILITY, facilities[k % len(facilities)].id,
                comment=COMMENTS[k] if k < 5 else None,
                moderate=moderation[k] if k < 5 else None)
    past = [(b, r) for b, r, _ in bookings.bookings_in(session, statuses=["approved"])
            if b.ends_at <= demo.now and r.id in {v.resource.id for v in venues}]
    others = [(b, r) for b, r in past if b.user_id != demo.resident.user.id]
    for booking, _ in others[:2]:
        user = session.get(User, booking.user_id)
        if user is not None:
            _review(demo, user, SubjectKind.BOOKING, booking.id, comment="场地干净，设备齐全")
    for k, act in enumerate(held[:2]):
        signed = session.scalars(select(VolunteerSignup).where(
            VolunteerSignup.activity_id == act.id).order_by(VolunteerSignup.id)).first()
        volunteer = session.get(Volunteer, signed.volunteer_id) if signed else None
        user = session.get(User, volunteer.user_id) if volunteer else None
        if user is not None:
            _review(demo, user, SubjectKind.VOLUNTEER_ACTIVITY, act.id,
                    comment="活动组织有序，很有意义", moderate=True if k == 0 else None)
    enrolled = next((a for f in care_facilities[:1] for a, _ in care.applications_of(
        session, division_prefix=f.division_code, statuses=["accepted"])
        if a.facility_id == f.id), None)
    if enrolled is not None:
        user = session.get(User, enrolled.applicant_user_id)
        if user is not None:
            _review(demo, user, SubjectKind.CARE_PLACE, enrolled.id, comment=COMMENTS[7])
    others_closed = [(r, u) for r, u in closed if u.id != demo.resident.user.id]
    if others_closed:
        request, user = others_closed[-1]
        _review(demo, user, SubjectKind.REQUEST, request.id, comment=COMMENTS[6])
    own_venue = next((v.facility for v in venues
                      if v.facility.division_code == demo.community.code), None)
    if own_venue is not None:
        _review(demo, demo.resident.user, SubjectKind.FACILITY, own_venue.id, score=4,
                comment="活动室明亮整洁，希望周末也能预约")
    own_past = next((b for b, _ in past if b.user_id == demo.resident.user.id), None)
    if own_past is not None:
        _review(demo, demo.resident.user, SubjectKind.BOOKING, own_past.id, score=5,
                comment=None)
