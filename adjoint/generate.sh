#!/usr/bin/env bash
# Regenerate the tangent and adjoint codes of the D&B core with Tapenade.
#
#   TAPENADE_HOME=/path/to/tapenade_3.16 adjoint/generate.sh [OUTDIR]
#
# OUTDIR defaults to adjoint/generated; tests/test_generated_code.py writes to a temporary
# folder and compares with the committed files.
#
# Writes adjoint/generated/dnb_tl.f90 (modules *_tl, routines *_d, derivatives x_d) and
# adjoint/generated/dnb_ad.f90 (modules *_ad, routines *_b, derivatives x_b). Never edit
# those files: change fortran/ and run this script again. The output is deterministic, so
# running the script twice gives byte-identical files (a test compares them with the
# committed ones when TAPENADE_HOME is set).
#
# Tapenade runs twice, once per mode, never in the combined "-d -b" mode: in combined mode
# it produced a tangent of a Fortran function that no longer assigned the function's
# primal value (DESIGN.md, adjoint/).
#
# Differentiation roots: dnb_control.forward, the map from the control vector x to all
# simulated observations y (parameters, initial pools and soil water are all in x), in
# both modes; and, in reverse mode only, dnb_cost.cost_obs, the map from x to the
# observation term J_obs of the cost (its adjoint gives J_obs's gradient and y in one taped
# pass). dnb_api is not differentiated: it is the flat interface that f2py wraps.
#
# The script fails on every Tapenade message except the benign ones listed in
# BENIGN_MESSAGES below, on any error in Tapenade's console output, and on generated code
# that calls a stack routine adjoint/dnb_adstack.f90 does not provide.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${1:-$here/generated}"

if [[ -z "${TAPENADE_HOME:-}" ]]; then
  echo "generate.sh: TAPENADE_HOME is not set; point it at a Tapenade 3.16 installation" \
       "(the directory that contains bin/tapenade)" >&2
  exit 2
fi
tapenade="$TAPENADE_HOME/bin/tapenade"
if [[ ! -x "$tapenade" ]]; then
  echo "generate.sh: $tapenade not found or not executable (TAPENADE_HOME=$TAPENADE_HOME)" >&2
  exit 2
fi

# Differentiated sources, in dependency order (paths relative to the repository root, so
# that nothing machine-specific can reach the generated files).
modules=(dnb_kinds dnb_constants dnb_params dnb_smooth dnb_radiation dnb_photosynthesis
         dnb_energy dnb_hydrology dnb_phenology dnb_carbon dnb_obs dnb_model dnb_control
         dnb_cost)
sources=()
for m in "${modules[@]}"; do
  sources+=("fortran/$m.f90")
done
# Roots: the tangent and the adjoint of dnb_control.forward (x -> y), and the adjoint of
# dnb_cost.cost_obs (x -> J_obs, the observation term of the cost, with y from the same
# taped pass). Tapenade takes several heads in one -head argument, separated by spaces.
head_tl="dnb_control.forward(y)/(x)"
head_ad="dnb_control.forward(y)/(x) dnb_cost.cost_obs(j)/(x)"

# Messages Tapenade writes to its .msg files that are known to be harmless here, as
# extended regular expressions matched against whole lines (after the leading message
# number). Everything else fails the script.
#
#  * "forward: Command: Input variable(s) y have their derivative modified in forward:
#    added to independents" (reverse mode only). y is intent(out) and fully overwritten;
#    the adjoint reads the seed y_b and then sets it to zero (the derivative with respect to
#    its unused input value), so Tapenade lists it as modified. Harmless; callers must treat
#    y_b as overwritten.
#  * the same for j, the output of cost_obs (reverse mode only): the adjoint reads the seed
#    j_b and sets it to zero; dnb_api.cost_grad_x passes a local copy.
BENIGN_MESSAGES=(
  '^forward: Command: Input variable\(s\) y have their derivative modified in forward: added to independents$'
  '^cost_obs: Command: Input variable\(s\) j have their derivative modified in cost_obs: added to independents$'
)
# Console lines that are informational: the banner, "@@" progress lines, and
#  * "Diff-liveness analysis turned off" (tangent mode): Tapenade skips an optimisation
#    that removes derivative statements whose results are never used; the tangent is
#    unchanged in value, only possibly a little longer.
BENIGN_CONSOLE='^(Tapenade [0-9]|@@ |Diff-liveness analysis turned off$)'
# Message classes seen or possible with this code and why they are fatal: (DF02) potential
# aliasing between arguments of a call (derivatives may be wrong if the arguments really
# overlap; fortran/dnb_model.f90 passes state elements through scalar copies to avoid it),
# (AD..) differentiation problems such as non-differentiable intrinsics or lost
# dependencies, (TC..) type/kind problems, (DD..)/(CF..) declaration and control-flow
# problems, and anything with "Error", "could not" or "not differentiable".

work="$(mktemp -d "${TMPDIR:-/tmp}/tccas-tapenade.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# run_mode <tl|ad> <head spec> <tapenade mode options...>: one Tapenade run into
# $work/<tl|ad>/.
run_mode() {
  local tag="$1" head_spec="$2"
  shift 2
  mkdir -p "$work/$tag"
  echo "== tapenade $* -head \"$head_spec\" -o dnb_$tag -O <tmp> ${sources[*]}"
  if ! (cd "$root" && "$tapenade" "$@" -head "$head_spec" -o "dnb_$tag" -O "$work/$tag" \
          "${sources[@]}") > "$work/$tag.log" 2>&1; then
    cat "$work/$tag.log" >&2
    echo "generate.sh: Tapenade failed in mode $tag" >&2
    exit 1
  fi
}

run_mode tl "$head_tl" -d -tgtvarname %_d -tgtmodulename %_tl
run_mode ad "$head_ad" -b -adjvarname %_b -adjmodulename %_ad

fail=0
for tag in tl ad; do
  if [[ "$tag" == ad ]]; then suffix=b; else suffix=d; fi
  gen="$work/$tag/dnb_${tag}_${suffix}.f90"
  if [[ ! -s "$gen" ]]; then
    cat "$work/$tag.log" >&2
    echo "generate.sh: Tapenade wrote no $gen" >&2
    exit 1
  fi
  # console output
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    if [[ ! "$line" =~ $BENIGN_CONSOLE ]]; then
      echo "generate.sh: unexpected Tapenade output ($tag): $line" >&2
      fail=1
    fi
  done < "$work/$tag.log"
  # every .msg file Tapenade wrote
  shopt -s nullglob
  for msg in "$work/$tag"/*.msg; do
    while IFS= read -r line; do
      [[ -z "$line" ]] && continue
      text="${line#* }"                 # drop the leading message number
      benign=0
      for pat in "${BENIGN_MESSAGES[@]}"; do
        if [[ "$text" =~ $pat ]]; then
          benign=1
          break
        fi
      done
      if (( benign )); then
        echo "   benign ($tag): $text"
      else
        echo "generate.sh: Tapenade message ($tag): $text" >&2
        fail=1
      fi
    done < "$msg"
  done
  shopt -u nullglob
done
if (( fail )); then
  echo "generate.sh: Tapenade reported problems (see above); fix fortran/ and rerun." \
       "Nothing was written to $out." >&2
  exit 1
fi

# Post-processing: Tapenade's two-line header stays (it names the Tapenade version; it has
# no run date); a line saying how the file was made is added after it. Nothing else is
# changed.
finish() {
  local src="$1" dst="$2" roots="$3"
  {
    sed -n '1,2p' "$src"
    echo "!  Made by adjoint/generate.sh from fortran/ ($roots). Do not edit."
    sed -n '3,$p' "$src"
  } > "$dst"
}
tl_new="$work/dnb_tl.f90"
ad_new="$work/dnb_ad.f90"
finish "$work/tl/dnb_tl_d.f90" "$tl_new" "root dnb_control.forward"
finish "$work/ad/dnb_ad_b.f90" "$ad_new" "roots dnb_control.forward, dnb_cost.cost_obs"

# Sanity checks on the generated code.
grep -qi '^ *SUBROUTINE FORWARD_D(' "$tl_new" || { echo "generate.sh: no FORWARD_D" >&2; exit 1; }
# forward's adjoint comes as a forward sweep and a backward sweep (forward_fwd, forward_bwd:
# cost_obs calls forward without a checkpoint; Tapenade then writes no joint forward_b)
for name in FORWARD_FWD FORWARD_BWD; do
  grep -qi "^ *SUBROUTINE $name(" "$ad_new" || { echo "generate.sh: no $name" >&2; exit 1; }
done
grep -qi '^ *SUBROUTINE COST_OBS_B(' "$ad_new" || { echo "generate.sh: no COST_OBS_B" >&2; exit 1; }
# real(wp) must be known to Tapenade as 8 bytes: otherwise it pushes reals with
# PUSHREAL4ARRAY(x, wp/4) (this happened with wp = selected_real_kind(15, 307)).
if grep -qiE 'REAL4|wp/4|wp\*[0-9]+/4' "$ad_new"; then
  echo "generate.sh: the adjoint stores real(wp) as 4-byte reals; Tapenade does not know wp" >&2
  exit 1
fi
# Every stack routine the reverse code calls must exist in adjoint/dnb_adstack.f90.
missing=0
for name in $(grep -oiE 'CALL +(PUSH|POP|LOOK|ADSTACK)[A-Z0-9_]*' "$ad_new" \
              | awk '{print toupper($2)}' | sort -u); do
  if ! grep -qiE "^ *subroutine +$name *\(" "$here/dnb_adstack.f90"; then
    echo "generate.sh: the adjoint calls $name, which adjoint/dnb_adstack.f90 lacks" >&2
    missing=1
  fi
done
if (( missing )); then
  exit 1
fi

mkdir -p "$out"
cp "$tl_new" "$out/dnb_tl.f90"
cp "$ad_new" "$out/dnb_ad.f90"
echo "wrote $out/dnb_tl.f90 and $out/dnb_ad.f90"
