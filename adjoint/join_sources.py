"""Join Fortran source files into one (build step of meson.build).

    python join_sources.py OUTPUT INPUT...

The primal modules, and the AD stack with the generated adjoint, are each compiled as one
unit so that the compiler can inline small routines across modules (the stack's push/pop
routines into the reverse code, the smooth min/max helpers into the hourly loop). Each
input is copied whole, preceded by a comment naming it; the output is written only when
complete.
"""
import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: join_sources.py OUTPUT INPUT...", file=sys.stderr)
        return 2
    out, inputs = argv[1], argv[2:]
    parts = []
    for path in inputs:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if not text.endswith("\n"):
            text += "\n"
        parts.append(f"! ---- {os.path.basename(path)} (joined by adjoint/join_sources.py)\n{text}")
    tmp = out + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(parts))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
