from migrator.convex_names import field_name_problem
from migrator.plan.names import assign_field_names, index_name, sanitize_table_name


def test_table_names():
    assert sanitize_table_name("room-members", set()) == "room_members"
    assert sanitize_table_name("friends", set()) == "friends"
    assert sanitize_table_name("_private", set()) == "private"
    assert sanitize_table_name("room_members", {"room_members"}) == "room_members_2"


def test_field_renames_are_deterministic_and_collision_free():
    sources = ["_id", "id", "$type", "ünïcode", "first name", "x" * 70, "ok"]
    a = assign_field_names(sources, lambda n: field_name_problem(n, top_level=True))
    b = assign_field_names(list(reversed(sources)), lambda n: field_name_problem(n, top_level=True))
    assert a == b
    assert a["id"] == "id" and a["ok"] == "ok"
    assert a["_id"] == "id_2" and a["$type"] == "type" and a["ünïcode"] == "unicode"
    assert a["first name"] == "first_name" and len(a["x" * 70]) <= 64
    assert len(set(a.values())) == len(a)
    assert all(field_name_problem(n, top_level=True) is None for n in a.values())


def test_index_names():
    assert index_name(["email"], set()) == "by_email"
    assert index_name(["roomId", "userId"], set()) == "by_roomId_userId"
    assert index_name(["address.city"], set()) == "by_address_city"
    assert index_name(["id"], set()) == "by_id_key"          # by_id is reserved by Convex
    assert index_name(["email"], {"by_email"}) == "by_email_2"
