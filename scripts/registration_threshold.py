"""Choose FraudsterSimilarityThreshold's default: how two registrations of one voice score against each other.

For every devset speaker with enough material, two voiceprints are built from disjoint halves of its
recordings (each as a fraudster registration would be, ~30 s of net speech), then every pair is scored with
the risk map registration jobs use. Prints the same-voice and different-voice score distributions.

    .venv/bin/python scripts/registration_threshold.py [../shared/audio/devset]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from voiceprints import audio  # noqa: E402
from voiceprints.engine import voiceprint_of  # noqa: E402
from voiceprints.index import VoiceprintIndex  # noqa: E402

FOLDERS = ("librispeech", "arabic-speech-commands", "fsdd")
SECONDS_PER_HALF = 30.0


def halves(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    clips = [audio.to_canonical(audio.decode_wav(path.read_bytes())) for path in sorted(folder.glob("*.wav"))]
    first, second = clips[0::2], clips[1::2]
    return np.concatenate(first), np.concatenate(second)


def main() -> int:
    devset = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "audio" / "devset"
    names, a_prints, b_prints = [], [], []
    for group in FOLDERS:
        for folder in sorted((devset / group).iterdir()):
            if not folder.is_dir():
                continue
            first, second = halves(folder)
            a, b = voiceprint_of(first), voiceprint_of(second)
            if a is None or b is None or min(a.speech_seconds, b.speech_seconds) < SECONDS_PER_HALF:
                continue
            names.append(folder.name)
            a_prints.append(a)
            b_prints.append(b)
    index = VoiceprintIndex.build(
        ids=names,
        vectors=np.stack([p.vector for p in a_prints]),
        cohort_means=np.array([p.cohort.mean for p in a_prints]),
        cohort_stds=np.array([p.cohort.std for p in a_prints]),
    )
    same, different = [], []
    for name, probe in zip(names, b_prints, strict=True):
        for other in names:
            single = VoiceprintIndex.build(
                ids=[other],
                vectors=index.matrix[[names.index(other)]],
                cohort_means=index.means[[names.index(other)]],
                cohort_stds=1 / index.inv_stds[[names.index(other)]],
            )
            match = single.search(probe.vector, probe.cohort)
            assert match is not None
            (same if other == name else different).append(match.risk_score)
    print(f"speakers: {len(names)}")
    print(
        f"same voice   (n={len(same)}): min {min(same)}  p5 {np.percentile(same, 5):.0f}  median {np.median(same):.0f}"
    )
    print(
        f"different    (n={len(different)}): max {max(different)}  p99 {np.percentile(different, 99):.0f}  "
        f"median {np.median(different):.0f}"
    )
    for threshold in (50, 60, 70, 80, 90):
        missed = sum(score < threshold for score in same) / len(same)
        false = sum(score >= threshold for score in different) / len(different)
        print(f"threshold {threshold}: duplicates missed {missed:.1%}, distinct voices merged {false:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
