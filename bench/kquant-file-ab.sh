#!/usr/bin/env bash
# Whole-file A/B of two builds' CLIs on the same input, alternating, CPU time (user + sys) by
# /usr/bin/time, outputs compared byte for byte (issue 15, session 6: main's dist vs this branch's).
# Usage: BEFORE=/path/to/main/dist/cli.js IN=model-F32.gguf IM=imatrix.dat bash bench/kquant-file-ab.sh
#        (AFTER defaults to this tree's dist/cli.js; FTYPES "Q3_K_S Q6_K Q3_K_S:im", REPS 3)
# Prints one line per run: "FTYPE[:im] main|this user sys wall", then "identical" / "DIFFERENT".
set -u
AFTER=${AFTER:-$(dirname "$0")/../dist/cli.js}
FTYPES=${FTYPES:-"Q3_K_S Q6_K Q3_K_S:im"}
REPS=${REPS:-3}
T=$(mktemp -d)
for ft in $FTYPES; do
  F=${ft%%:*}; EXTRA=""; [ "$ft" != "$F" ] && EXTRA="--imatrix $IM"
  for r in $(seq "$REPS"); do
    for side in main this; do
      CLI=$BEFORE; [ $side = this ] && CLI=$AFTER
      /usr/bin/time -f "$ft $side %U %S %e" -o "$T/t.txt" node "$CLI" quantize "$IN" "$T/out-$side.gguf" "$F" --threads 1 --no-stats $EXTRA > /dev/null 2>&1
      cat "$T/t.txt"
    done
    cmp -s "$T/out-main.gguf" "$T/out-this.gguf" && echo "$ft identical" || echo "$ft DIFFERENT"
  done
done
uptime
rm -rf "$T"
