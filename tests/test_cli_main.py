import argparse

import pytest

from medseg.cli.main import build_parser, main


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
        return
    for name, sub in actions[0].choices.items():
        yield from _leaf_parsers(sub, path + (name,))


def test_every_command_is_registered():
    names = {path[0] for path, _ in _leaf_parsers(build_parser())}
    assert {"convert", "check", "ingest", "phantoms", "splits", "table", "cohort", "ears", "lv", "report", "qa"} <= names


def test_every_command_has_help_with_an_example():
    missing = []
    for path, parser in _leaf_parsers(build_parser()):
        if "example" not in parser.format_help().lower():  # on the page the user is reading
            missing.append(" ".join(path))
    assert not missing, f"commands without an example in --help: {missing}"


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: medseg" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "medseg" in capsys.readouterr().out


def test_a_command_loads_only_its_own_module():
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from medseg.cli.main import main\n"
        "try:\n"
        "    main(['-q', 'lv', 'segment', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('medseg.cli.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "usage: medseg lv segment" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "['medseg.cli.lv', 'medseg.cli.main']"


def test_the_console_command_exits_quickly_after_flushing_and_exit_handlers():
    import subprocess
    import sys

    from medseg.cli.main import EXIT_USER_ERROR

    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "sys.argv = ['medseg']\n"
        "from medseg.cli.main import run\n"
        "run()\n"
        "print('not reached')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == EXIT_USER_ERROR
    assert result.stdout.startswith("usage: medseg") and result.stdout.rstrip().endswith("exit handler ran")
    assert "not reached" not in result.stdout


def test_an_unknown_command_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["segmnt"])
    assert "invalid choice" in capsys.readouterr().err and "lv" in build_parser("segmnt").format_help()


def test_help_states_each_default_once():
    for path, parser in _leaf_parsers(build_parser()):
        help_text = " ".join(parser.format_help().split())
        assert "(default: None)" not in help_text, path
        assert help_text.count("(default: auto)") <= 1, path


def test_a_missing_path_is_a_user_error_not_an_internal_one(tmp_path, capsys):
    assert main(["report", "cohort", "--ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "s.tsv")]) == 2
    err = capsys.readouterr().err
    assert "error: No such file or directory" in err and "internal error" not in err


def test_debug_works_after_the_command_too(tmp_path):
    with pytest.raises(OSError):
        main(["report", "cohort", "--ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "s.tsv"), "--debug"])


@pytest.mark.parametrize("argv", [["lv", "segment", "x.nii.gz", "--threads", "0"], ["ears", "detect", "x.nii.gz", "--threads", "-1"]])
def test_a_thread_count_below_one_is_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "must be at least 1" in capsys.readouterr().err
