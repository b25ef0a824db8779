from sheetgen.cli import main

main(prog_name="sheetgen")
