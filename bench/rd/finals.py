"""The real encodes of rdoq_study.py runs as sweep.py rows (for sweep_tables.py): the lines
marked "final" whose tag is listed, re-tagged.

python bench/rd/finals.py STUDY.jsonl TAG[,TAG...] NEW_TAG >> bench/rd/sweep.jsonl
"""
import json
import sys


def main():
    path, tags, new = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    for line in open(path):
        r = json.loads(line)
        if not r.get("final") or r["tag"] not in tags or "cum_bytes" not in r["levels"][0]:
            continue
        print(json.dumps({"tag": new, "image": r["image"], "quality": r["quality"], "qat": False,
                          "steps": None, "rdoq": r["rdoq"], "level_steps": r.get("level_steps"),
                          "bytes": r["bytes"], "seconds_loaded": round(sum(r["stage_seconds_loaded"]), 1),
                          "levels": r["levels"], "from": r["tag"]}))


if __name__ == "__main__":
    main()
