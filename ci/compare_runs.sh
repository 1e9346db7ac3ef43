#!/usr/bin/env bash
# Compare two result folders file by file (sha256 of every regular file under each, by relative path).
#   bash ci/compare_runs.sh results_local results_slurm
# Prints every file that differs or exists on one side only, then a count line.
# Exit 0: same non-empty file set, every file byte-identical. Exit 1: any difference, or no files at all.
# Exit 2: usage error.
set -euo pipefail

if [[ $# -ne 2 || ! -d $1 || ! -d $2 ]]; then
    echo "usage: $0 FOLDER_A FOLDER_B   (two existing folders, e.g. two runs' results/)" >&2
    exit 2
fi

# digests FOLDER: "sha256<TAB>relative/path" per regular file, sorted bytewise by path
digests() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum --) |
        awk '{ hash = $1; path = substr($0, length($1) + 3); sub(/^\.\//, "", path); print hash "\t" path }'
}

a=$(mktemp) b=$(mktemp)
trap 'rm -f "$a" "$b"' EXIT
digests "$1" >"$a"
digests "$2" >"$b"

# exit code from awk: 1 when anything differs
set +e
report=$(awk -F '\t' -v A="$1" -v B="$2" '
    FILENAME == ARGV[1] { left[$2] = $1; next }  # not NR == FNR: the first file may be empty
    { right[$2] = $1 }
    END {
        same = 0; diff = 0; only_a = 0; only_b = 0
        for (p in left) {
            if (!(p in right)) { print "only in " A ": " p; only_a++ }
            else if (left[p] != right[p]) { print "differs: " p; diff++ }
            else same++
        }
        for (p in right) if (!(p in left)) { print "only in " B ": " p; only_b++ }
        printf "~%d files: %d identical, %d differ, %d only in %s, %d only in %s\n", \
            same + diff + only_a + only_b, same, diff, only_a, A, only_b, B
        # two empty folders are a broken run, not a match
        exit (diff + only_a + only_b > 0 || same == 0) ? 1 : 0
    }' "$a" "$b")
status=$?
set -e
# difference lines sorted by path; the count line (marked ~ so that it sorts last) at the end
LC_ALL=C sort <<<"$report" | sed 's/^~//'
exit "$status"
