"""Schedule strings of Table 2."""

import pytest

from dissect_lrm.algos.schedule import Stage, parse_length, parse_schedule


def test_parse_schedule_table2():
    assert parse_schedule("8k:neg,16k:neg,24k:both") == [
        Stage(8192, "neg"),
        Stage(16384, "neg"),
        Stage(24576, "both"),
    ]
    assert parse_schedule(" 4096:pos ") == [Stage(4096, "pos")]
    assert parse_length("24K") == 24576


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty schedule"),
        ("8k", "stage 1 '8k': expected 'LEN:MODE'"),
        ("8k:neg,8x:neg", "stage 2 '8x:neg': bad length '8x'"),
        ("8k:neg,16k:negative", "stage 2 '16k:negative': unknown mode 'negative'"),
        ("0k:both", "bad length '0k'"),
        ("8k:neg,,16k:both", "stage 2 '': expected 'LEN:MODE'"),
    ],
)
def test_parse_schedule_errors(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_schedule(text)
