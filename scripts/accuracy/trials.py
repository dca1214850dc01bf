"""Utterances, trial lists and watchlists drawn from the devset with one fixed seed.

Only file names and net-speech lengths go into the lists, so they can be committed (docs/accuracy-trials/)
while the audio stays in the devset. An utterance is an ordered run of clips fed to the engine until its
VAD has counted `seconds` of net speech; enrollments and tests of a speaker come from disjoint clip pools.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SEED = 20261121
TARGET_CORPORA = ("arabic-speech-commands", "librispeech", "fsdd")
COHORT_CORPUS = "cohort-librispeech"
ENROLL_SECONDS = 30.0
TEST_SECONDS = (10.0, 5.0)
ENROLLMENTS_PER_SPEAKER = 3
TESTS_PER_SPEAKER = 10  # per test length
# The enrollment pool takes this share of a speaker's speech (and never less than one enrollment plus a
# pool of exactly one enrollment: FSDD theo has only ~43 s); the test pool keeps the rest.
ENROLL_POOL_SHARE = 0.6
ENROLL_POOL_MIN = ENROLL_SECONDS
FOLDS = 4
NORMALISATION_COHORT_SIZE = 100  # of the 200 cohort speakers; the other 100 are impostor callers only
WATCHLISTS = 20
WATCHLIST_SIZE = 12


@dataclass(frozen=True)
class Utterance:
    id: str
    role: str  # "enroll", "test" or "cohort"
    seconds: float  # net speech to stop at; 0 = the clips' whole speech (cohort voices)
    speaker: str  # "<corpus>/<folder>", unique across the devset
    fold: int  # cross-validation fold of the speaker; -1 for the normalisation cohort
    clips: tuple[str, ...]  # paths relative to the devset root, in the order they are fed

    @property
    def corpus(self) -> str:
        return self.speaker.split("/", 1)[0]


@dataclass(frozen=True)
class TrialSet:
    utterances: tuple[Utterance, ...]
    watchlists: tuple[tuple[str, ...], ...]  # enrollment ids of each watchlist's fraudsters

    def by_role(self, role: str, seconds: float | None = None) -> list[Utterance]:
        return [u for u in self.utterances if u.role == role and (seconds is None or u.seconds == seconds)]

    def trials(self, seconds: float) -> list[tuple[str, str, bool]]:
        """Every enrollment against every test of this length: (enroll id, test id, same speaker)."""
        tests = self.by_role("test", seconds)
        return [(e.id, t.id, e.speaker == t.speaker) for e in self.by_role("enroll") for t in tests]


def list_clips(devset: Path) -> dict[str, list[str]]:
    """Speaker ("<corpus>/<folder>") -> sorted clip paths relative to the devset root."""
    clips: dict[str, list[str]] = defaultdict(list)
    for corpus in (*TARGET_CORPORA, COHORT_CORPUS):
        for path in sorted((devset / corpus).glob("*/*.wav")):
            clips[f"{corpus}/{path.parent.name}"].append(path.relative_to(devset).as_posix())
    return dict(clips)


def _draw(pool: list[str], seconds: float, speech: dict[str, float], rng: random.Random) -> tuple[str, ...]:
    """A random run of distinct clips from `pool` whose speech first reaches `seconds`."""
    order = pool[:]
    rng.shuffle(order)
    run, total = [], 0.0
    for clip in order:
        run.append(clip)
        total += speech[clip]
        if total >= seconds:
            break
    return tuple(run)


def _draw_distinct(
    pool: list[str], seconds: float, count: int, speech: dict[str, float], rng: random.Random
) -> list[tuple[str, ...]]:
    """Up to `count` different runs; small pools (few long sentences) may allow fewer."""
    runs: list[tuple[str, ...]] = []
    for _ in range(count * 50):
        run = _draw(pool, seconds, speech, rng)
        if run not in runs:
            runs.append(run)
        if len(runs) == count:
            break
    return runs


def _split_pools(
    clips: list[str], speech: dict[str, float], rng: random.Random
) -> tuple[list[str], list[str]]:
    order = clips[:]
    rng.shuffle(order)
    total = sum(speech[c] for c in order)
    want = max(ENROLL_POOL_SHARE * total, ENROLL_POOL_MIN)
    enroll, acc = [], 0.0
    for clip in order:
        if acc >= want:
            break
        enroll.append(clip)
        acc += speech[clip]
    return enroll, order[len(enroll) :]


def build(clips: dict[str, list[str]], speech: dict[str, float], seed: int = SEED) -> TrialSet:
    """The whole design from the clip list and each clip's net speech (seconds, from the VAD)."""
    rng = random.Random(seed)
    targets = [s for s in clips if s.split("/", 1)[0] in TARGET_CORPORA]
    cohort_speakers = sorted(s for s in clips if s.startswith(COHORT_CORPUS + "/"))

    # Folds: speakers of each corpus dealt round-robin, continuing across corpora so folds stay balanced.
    fold_of: dict[str, int] = {}
    dealt = 0
    for corpus in TARGET_CORPORA:
        speakers = sorted(s for s in targets if s.startswith(corpus + "/"))
        rng.shuffle(speakers)
        for speaker in speakers:
            fold_of[speaker] = dealt % FOLDS
            dealt += 1
    shuffled_cohort = cohort_speakers[:]
    rng.shuffle(shuffled_cohort)
    normalisers = sorted(shuffled_cohort[:NORMALISATION_COHORT_SIZE])
    impostors = sorted(shuffled_cohort[NORMALISATION_COHORT_SIZE:])
    for i, speaker in enumerate(impostors):
        fold_of[speaker] = i % FOLDS

    utterances: list[Utterance] = []
    counters: dict[str, int] = defaultdict(int)

    def add(prefix: str, role: str, seconds: float, speaker: str, fold: int, run: tuple[str, ...]) -> None:
        counters[prefix] += 1
        utterances.append(Utterance(f"{prefix}{counters[prefix]:03d}", role, seconds, speaker, fold, run))

    enrollments: dict[str, list[str]] = {}
    for speaker in sorted(targets):
        enroll_pool, test_pool = _split_pools(clips[speaker], speech, rng)
        if sum(speech[c] for c in test_pool) < max(TEST_SECONDS):
            raise ValueError(f"{speaker}: too little speech for a {max(TEST_SECONDS):.0f} s test pool")
        first = counters["E"] + 1
        for run in _draw_distinct(enroll_pool, ENROLL_SECONDS, ENROLLMENTS_PER_SPEAKER, speech, rng):
            add("E", "enroll", ENROLL_SECONDS, speaker, fold_of[speaker], run)
        enrollments[speaker] = [f"E{n:03d}" for n in range(first, counters["E"] + 1)]
        for seconds in TEST_SECONDS:
            prefix = f"T{seconds:02.0f}-"
            for run in _draw_distinct(test_pool, seconds, TESTS_PER_SPEAKER, speech, rng):
                add(prefix, "test", seconds, speaker, fold_of[speaker], run)
    # Impostor callers: each cohort speaker outside the normalisation cohort says one sentence; it is a test
    # of a given length only if that sentence holds that much speech.
    for speaker in impostors:
        for seconds in TEST_SECONDS:
            if sum(speech[c] for c in clips[speaker]) >= seconds:
                add(f"T{seconds:02.0f}-", "test", seconds, speaker, fold_of[speaker], tuple(clips[speaker]))
    for speaker in normalisers:
        add("C", "cohort", 0.0, speaker, -1, tuple(clips[speaker]))

    watchlists = []
    for _ in range(WATCHLISTS):
        members = rng.sample(sorted(targets), WATCHLIST_SIZE)
        watchlists.append(tuple(rng.choice(enrollments[m]) for m in sorted(members)))
    return TrialSet(tuple(utterances), tuple(watchlists))


def write(trial_set: TrialSet, folder: Path) -> list[Path]:
    """The lists as CSV (file names only, no audio); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "utterances.csv"]
    with written[0].open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["id", "role", "net_speech_s", "speaker", "fold", "clips"])
        for u in trial_set.utterances:
            # Clip names are relative to the speaker's folder (<devset>/<speaker>/), in the order fed.
            names = [c.removeprefix(u.speaker + "/") for c in u.clips]
            out.writerow([u.id, u.role, f"{u.seconds:g}", u.speaker, u.fold, ";".join(names)])
    for seconds in TEST_SECONDS:
        path = folder / f"trials-30s-{seconds:02.0f}s.csv"
        with path.open("w", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(["enroll", "test", "target"])
            out.writerows((e, t, int(same)) for e, t, same in trial_set.trials(seconds))
        written.append(path)
    path = folder / "watchlists.csv"
    speaker_of = {u.id: u.speaker for u in trial_set.utterances}
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["watchlist", "fraudster_enroll", "speaker"])
        for i, members in enumerate(trial_set.watchlists, 1):
            out.writerows((f"W{i:02d}", e, speaker_of[e]) for e in members)
    written.append(path)
    return written
