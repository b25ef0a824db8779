from sheetgen.cli import main

# guarded: worker processes (check's pool) import the main module under another name
if __name__ == "__main__":
    main(prog_name="sheetgen")
