"""Parameter counts follow from the block layout: the seed tables check it."""
import pytest

from snf.field.arch import Arch, ArchError, parse_widths

SEED = [
    # widths, layers, d_in, mode, cumulative params per level (seed Tables 1, 3, 4)
    ((30, 69, 110, 151), 5, 2, "progressive", [3903, 15057, 33507, 58681]),
    ((30, 60, 90, 120), 5, 2, "slimmable", [3903, 15003, 33303, 58803]),
    ((30, 60, 90, 120), 5, 2, "individual", [3903, 15003, 33303, 58803]),
    ((59, 96, 126, 149), 5, 2, "progressive", [14517, 29095, 44515, 58453]),
    ((296, 479, 619), 6, 3, "progressive", [441635, 882116, 1317096]),
]


@pytest.mark.parametrize("widths,layers,d_in,mode,expected", SEED)
def test_seed_parameter_counts(widths, layers, d_in, mode, expected):
    arch = Arch(widths, layers=layers, d_in=d_in, mode=mode)
    assert [arch.params(k) for k in range(1, arch.levels + 1)] == expected


def test_progressive_blocks_are_lower_triangular():
    arch = Arch((4, 10, 16), layers=3)
    for k in (1, 2, 3):
        a, b = arch.span(k)
        for blk in arch.blocks(k):
            if blk.tensor.startswith("l") and blk.tensor.endswith(".w") and blk.tensor != "l0.w":
                assert blk.rows == (a, b) and blk.cols == (0, b)  # reads every existing unit, no later one


def test_slimmable_adds_upper_right_block():
    arch = Arch((4, 10), layers=3, mode="slimmable")
    cols = [b for b in arch.blocks(2) if b.tensor == "l1.w"]
    assert [(c.rows, c.cols) for c in cols] == [((4, 10), (0, 10)), ((0, 4), (4, 10))]


@pytest.mark.parametrize("bad", [dict(widths=(10, 5)), dict(widths=()), dict(widths=(5000,)),
                                 dict(widths=(4,), mode="nope"), dict(widths=(4,), layers=0)])
def test_bad_architectures_are_refused(bad):
    with pytest.raises(ArchError):
        Arch(**bad)


def test_parse_widths():
    assert parse_widths("30,69, 110") == (30, 69, 110)
    with pytest.raises(ArchError):
        parse_widths("30,abc")


@pytest.mark.parametrize("mode,stages,trained,groups,net3,first3,width0,fan2,zero2", [
    ("progressive", [[1], [2], [3]], [3], [(0, 4), (4, 8), (8, 12)], 0, 1, 12, 8, True),
    ("slimmable", [[1, 2, 3]], [1, 2, 3], [(0, 12)], 0, 1, 12, 12, False),
    ("individual", [[1], [2], [3]], [3], [(0, 12)], 2, 3, 4, 8, False),
])
def test_mode_behaviour_is_asked_of_the_arch(mode, stages, trained, groups, net3, first3, width0, fan2, zero2):
    """What the trainer, model and renderers ask of a mode (they never compare its name)."""
    a = Arch((4, 8, 12), layers=3, mode=mode)
    assert a.stages() == stages and a.trains_jointly == (len(stages) == 1)
    assert a.trained_levels(stages[-1], 3) == trained
    assert a.row_groups(3) == groups
    assert (a.net_of(3), a.first_level(3), a.net_width(0)) == (net3, first3, width0)
    assert (a.init_fan(2), a.grows_from_zero(2), a.grows_from_zero(1)) == (fan2, zero2, False)
