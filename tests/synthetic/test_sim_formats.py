"""Every output format reads back through read_ais to the same rows; the CLI."""

from __future__ import annotations

import pytest

from caspian_ais.synthetic import FORMATS, write_scenario

io = pytest.importorskip("caspian_ais.io")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("formats")
    out = {}
    for fmt in FORMATS:
        write_scenario(
            base / fmt,
            n_vessels=8,
            days=2.5,
            start="2022-08-31T12:00",
            seed=21,
            format=fmt,
            thin_s=300,
            workers=1,
            class_b_share=0.25,
        )
        out[fmt] = base / fmt
    return out


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "parquet"])
def test_every_format_reads_back_to_the_same_rows(written, same_rows, fmt: str) -> None:
    ref = io.read_ais(written["parquet"] / "ais")
    back = io.read_ais(written[fmt] / "ais")
    assert (
        len(back.attrs["rejected_rows"].frame) == 0
        if hasattr(back.attrs.get("rejected_rows"), "frame")
        else True
    )
    same_rows(ref, back, fmt)


def test_daily_files_are_named_like_real_dumps(written) -> None:
    assert (
        sorted(p.name for p in (written["marinecadastre"] / "ais").iterdir())[0]
        == "AIS_2022_08_31.csv"
    )
    assert sorted(p.name for p in (written["dma"] / "ais").iterdir())[0] == "aisdk-2022-08-31.csv"
    first = (written["marinecadastre"] / "ais" / "AIS_2022_08_31.csv").read_text().splitlines()[0]
    assert first == (
        "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,"
        "Length,Width,Draft,Cargo,TransceiverClass"
    )
    line = (written["nmea"] / "ais").joinpath("ais_2022-08-31.nmea").read_text().splitlines()[0]
    tag, sentence = line[1:].split("\\", 1)
    body, cs = tag.split("*")
    x = 0
    for ch in body.encode():
        x ^= ch
    assert f"{x:02X}" == cs and body.startswith("c:") and sentence.startswith("!AIVDM")


def test_truth_files_are_written(written) -> None:
    for name in (
        "vessels",
        "events",
        "dark_spells",
        "reception_gaps",
        "outages",
        "stations",
        "satellite_passes",
    ):
        assert (written["parquet"] / f"truth_{name}.csv").exists()
    assert (written["parquet"] / "scenario.json").exists()


def test_simulate_subcommand(tmp_path) -> None:
    from caspian_ais.cli import main

    rc = main(
        [
            "simulate",
            "--vessels",
            "3",
            "--days",
            "1",
            "--start",
            "2022-09-01",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
            "--format",
            "dma",
            "--thin-s",
            "900",
            "--workers",
            "1",
            "-q",
        ]
    )
    assert rc == 0
    assert list((tmp_path / "ais").glob("aisdk-*.csv"))
    assert (tmp_path / "truth_events.csv").exists()


def test_simulate_subcommand_rejects_unknown_parameter(tmp_path, capsys) -> None:
    from caspian_ais.cli import main

    rc = main(["simulate", "--days", "1", "--out", str(tmp_path), "--set", "no_such=1", "-q"])
    assert rc == 2
    assert "no_such" in capsys.readouterr().err
