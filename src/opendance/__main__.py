from opendance.cli.main import app

app(prog_name="opendance")
