"""Measure the voice engine on the devset and fit the score calibration: `docs/accuracy.md`'s numbers.

    .venv/bin/python scripts/accuracy.py [--devset ../shared/audio/devset] [--write-docs]

Builds the utterances, trial lists and watchlists with a fixed seed, embeds everything through the
production streaming path (cached in var/accuracy-cache/, so re-runs take seconds), then reports EERs,
cross-validated FAR/FRR per threshold, DET points and 1:N screening, clean and after a G.711 mu-law round
trip. --write-docs also writes docs/accuracy.md, docs/accuracy-trials/*.csv and the committed
voiceprints/data/ files (normalisation cohort and calibration).
"""

from __future__ import annotations

import os

# One BLAS thread per process: the embedding runs in two worker processes on a 2-core machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from scripts.accuracy import calibrate, embed, evaluate, report, trials  # noqa: E402
from voiceprints import scoring, vad  # noqa: E402

PRIMARY = "clean-energy"
CONDITIONS = (
    embed.Condition("clean-energy", "pcm16", "energy"),
    embed.Condition("ulaw-energy", "ulaw", "energy"),
    embed.Condition("clean-webrtc", "pcm16", "webrtc"),
    embed.Condition("ulaw-webrtc", "ulaw", "webrtc"),
)
TOP_KS = (10, 20, 50, 100)
STATISTIC = "cosine"  # the committed choice; docs/accuracy.md shows the s-norm alternative and why not


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devset", type=Path, default=REPO.parent / "shared" / "audio" / "devset")
    parser.add_argument("--write-docs", action="store_true", help="write docs/ and voiceprints/data/")
    parser.add_argument("--workers", type=int, default=embed.default_workers())
    args = parser.parse_args(argv)
    devset = args.devset.resolve()
    if not (devset / trials.COHORT_CORPUS).is_dir():
        parser.error(f"{devset} does not look like the devset (no {trials.COHORT_CORPUS}/)")
    started = time.time()
    conditions = [c for c in CONDITIONS if c.vad != "webrtc" or vad.webrtc_available()]

    # The design counts speech with the numpy energy VAD, which every install has, so the lists are the
    # same whichever optional VAD is present.
    clips = trials.list_clips(devset)
    speech = embed.speech_seconds(devset, [c for v in clips.values() for c in v], "energy", args.workers)
    trial_set = trials.build(clips, speech)
    print(f"{len(trial_set.utterances)} utterances, {len(trial_set.watchlists)} watchlists")

    vectors, seconds = {}, {}
    for condition in conditions:
        vectors[condition.name], seconds[condition.name] = embed.embed_all(
            devset, condition, trial_set.utterances, args.workers
        )
    cohort_ids = [u.id for u in trial_set.by_role("cohort")]
    cohort = np.stack([vectors[PRIMARY][i] for i in cohort_ids])
    tables = evaluate.build_tables(trial_set, vectors, seconds)

    results = analyse(trial_set, tables, cohort, seconds)
    results["runtime_s"] = round(time.time() - started, 1)
    results["devset"] = str(args.devset)
    print(report.summary(results))
    (embed.CACHE_DIR / "results.json").write_text(json.dumps(results, indent=1, default=float))
    if args.write_docs:
        write_outputs(trial_set, results, cohort, [u.speaker for u in trial_set.by_role("cohort")], devset)
    return 0


def analyse(trial_set: trials.TrialSet, tables: dict, cohort: np.ndarray, seconds: dict) -> dict:
    conditions = sorted({c for c, _ in tables}, key=[c.name for c in CONDITIONS].index)
    lengths = sorted({s for _, s in tables}, reverse=True)
    all_tables = list(tables.values())

    # s-norm alternative: its EER for each cohort size, next to the raw cosine's.
    sweep = {
        f"{c} {s:g}": {
            k: evaluate.verification_summary(
                tables[c, s], tables[c, s].values("snorm", cohort, k), bootstrap=False
            )
            for k in TOP_KS
        }
        for c, s in tables
    }
    top_k = min(TOP_KS, key=lambda k: np.mean([sweep[key][k]["eer"] for key in sweep]))

    verification = {}
    per_corpus = {}
    for (c, s), table in tables.items():
        values = table.values(STATISTIC, cohort, top_k)
        verification[f"{c} {s:g}"] = evaluate.verification_summary(table, values)
        per_corpus[f"{c} {s:g}"] = {
            fam: evaluate.metrics.eer(
                values[table.target & fam_rows[:, None]],
                values[~table.target & table.same_family & fam_rows[:, None]],
            )[0]
            for fam in ("arabic-speech-commands", "librispeech", "fsdd")
            for fam_rows in [np.array([evaluate.family(u.speaker) == fam for u in table.enroll])]
        }

    folds = evaluate.fold_calibrations(all_tables, STATISTIC, cohort, top_k)
    meta = {
        "fitted_by": "scripts/accuracy.py",
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "devset": "shared/audio/devset (see docs/accuracy.md)",
        "seed": trials.SEED,
        "anchors": {
            "auth_far_at_50": calibrate.AUTH_FAR_AT_50,
            "auth_far_at_90": calibrate.AUTH_FAR_AT_90,
            "risk_far_at_50": calibrate.RISK_FAR_AT_50,
            "nontargets": "same-corpus non-target trials, all conditions and test lengths pooled",
        },
        "conditions": conditions,
    }
    final = evaluate.final_calibration(all_tables, STATISTIC, cohort, top_k, meta)

    held_out, resubstitution, screening, screening_final, float16 = {}, {}, {}, {}, {}
    for (c, s), table in tables.items():
        key = f"{c} {s:g}"
        values = table.values(STATISTIC, cohort, top_k)
        held_out[key] = evaluate.threshold_rows(table, evaluate.scores_by_fold(table, values, folds, "auth"))
        resubstitution[key] = evaluate.threshold_rows(table, final.auth.score(values))
        screening[key] = evaluate.screening(table, trial_set.watchlists, folds, cohort)
        everyone = {f: final for f in folds}
        screening_final[key] = evaluate.screening(table, trial_set.watchlists, everyone, cohort)
        half = evaluate.screening(table, trial_set.watchlists, folds, cohort, float16=True)
        float16[key] = {
            "same_best": float(np.mean(np.array(half["best_ids"]) == np.array(screening[key]["best_ids"]))),
            "max_rate_change": max(
                abs(a[m] - b[m])
                for a, b in zip(half["rows"], screening[key]["rows"], strict=True)
                for m in ("detected", "false_alarm")
            ),
        }
        for block in (screening[key], screening_final[key]):
            block.pop("best_ids")

    # Why s-norm fails here: how close each corpus's voices sit to the LibriSpeech cohort.
    table = tables[PRIMARY, lengths[0]]
    em, es, _, _ = table.stats(cohort, top_k)
    families = np.array([evaluate.family(u.speaker) for u in table.enroll])
    cohort_similarity = {
        fam: {"mean": float(em[families == fam].mean()), "std": float(es[families == fam].mean())}
        for fam in ("arabic-speech-commands", "librispeech", "fsdd")
    }

    return {
        "primary": PRIMARY,
        "cohort_similarity": cohort_similarity,
        "conditions": conditions,
        "lengths": lengths,
        "design": design(trial_set, seconds),
        "statistic": STATISTIC,
        "top_k": top_k,
        "snorm_sweep": {
            key: {k: {"eer": v["eer"], "frr_at_far_1": v["frr_at_far_1"]} for k, v in per_k.items()}
            for key, per_k in sweep.items()
        },
        "verification": verification,
        "per_corpus": per_corpus,
        "fold_calibrations": {f: cal.to_json() for f, cal in folds.items()},
        "calibration": final.to_json(),
        "held_out": held_out,
        "resubstitution": resubstitution,
        "screening": screening,
        "screening_final": screening_final,
        "float16": float16,
        "float16_speed": evaluate_float16_speed(),
    }


def design(trial_set: trials.TrialSet, seconds: dict) -> dict:
    """Counts for the report: utterances by role, length and corpus; speakers; short utterances."""
    by = Counter((u.role, u.seconds, u.corpus) for u in trial_set.utterances)
    enrolled = sorted({u.speaker for u in trial_set.by_role("enroll")})
    short = {
        c: sum(1 for u in trial_set.utterances if u.seconds and seconds[c][u.id] < u.seconds - 0.1)
        for c in seconds
    }
    return {
        "counts": [[role, length, corpus, n] for (role, length, corpus), n in sorted(by.items())],
        "enroll_speakers": dict(Counter(s.split("/", 1)[0] for s in enrolled)),
        "impostor_speakers": len(
            {u.speaker for u in trial_set.by_role("test") if u.corpus == trials.COHORT_CORPUS}
        ),
        "cohort_speakers": len(trial_set.by_role("cohort")),
        "short_utterances": short,
        "watchlists": len(trial_set.watchlists),
        "watchlist_size": trials.WATCHLIST_SIZE,
        "folds": trials.FOLDS,
        "seed": trials.SEED,
    }


def evaluate_float16_speed(size: int = 100_000, dim: int = 256, repeats: int = 5) -> dict:
    """One 100k x 256 product in float32 against float16 storage (numpy has no float16 BLAS)."""
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((size, dim), dtype=np.float32)
    vector = matrix[0].copy()
    half = matrix.astype(np.float16)
    out = {}
    for name, m, v in (("float32", matrix, vector), ("float16", half, vector.astype(np.float16))):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            m @ v
            times.append(time.perf_counter() - start)
        out[name + "_ms"] = round(1e3 * float(np.median(times)), 2)
    return out


def write_outputs(
    trial_set: trials.TrialSet, results: dict, cohort: np.ndarray, cohort_speakers, devset: Path
) -> None:
    for path in trials.write(trial_set, REPO / "docs" / "accuracy-trials"):
        print(f"wrote {path.relative_to(REPO)}")
    data = scoring.DATA_DIR
    data.mkdir(exist_ok=True)
    from voiceprints import engine

    np.savez(
        scoring.COHORT_FILE,
        embeddings=cohort.astype(np.float32),
        speakers=np.array(cohort_speakers),
        source=np.array(
            json.dumps(
                {
                    "model": engine.encoder().name,
                    "vad": "energy",
                    "material": f"devset/{trials.COHORT_CORPUS}, the {len(cohort_speakers)} speakers of the "
                    f"normalisation half (seed {trials.SEED}); one sentence each, as recorded",
                    "made_by": "scripts/accuracy.py --write-docs",
                }
            )
        ),
    )
    scoring.CALIBRATION_FILE.write_text(json.dumps(results["calibration"], indent=2) + "\n")
    attribution = (devset / trials.COHORT_CORPUS / "ATTRIBUTION.txt").read_text()
    (data / "ATTRIBUTION.txt").write_text(
        "cohort.npz holds speaker embeddings (voiceprints) computed by voiceid's engine from recordings of the\n"
        f"speakers listed in it (devset folder {trials.COHORT_CORPUS}/); no audio is included.\n"
        "calibration.json holds constants fitted on the same devset by scripts/accuracy.py.\n"
        "The recordings' attribution and licence:\n\n" + attribution
    )
    shutil.copyfile(devset / trials.COHORT_CORPUS / "LICENSE.TXT", data / "LICENSE.TXT")
    (REPO / "docs" / "accuracy.md").write_text(report.markdown(results))
    for name in ("cohort.npz", "calibration.json", "ATTRIBUTION.txt", "LICENSE.TXT"):
        print(f"wrote voiceprints/data/{name}")
    print("wrote docs/accuracy.md")


if __name__ == "__main__":
    raise SystemExit(main())
