"""When the target is out of the model's reach (logic/out_of_reach.py).

The rule: every grid threshold holding enough calibration items to be certified has an upper
confidence bound below the target. What a user relies on: a reachable target is rarely called out
of reach (at most 1 - ConfidenceLevel per iteration), so stopping training costs a good model
nothing; a hopeless one is called so, so the job stops paying for models that label nothing.
"""

from __future__ import annotations

import random

import pytest
from scipy import stats

from labeling.logic import out_of_reach
from labeling.logic.threshold import GRID, choose_threshold, min_trials_to_pass
from labeling.models.job import JobConfig

TARGET, CONFIDENCE = 0.95, 0.95
ALPHA = 1 - CONFIDENCE


def _curve(accuracies: list[float], rng: random.Random) -> list[tuple[float, bool]]:
    """One calibration item per accuracy, most confident first, right with that probability."""
    n = len(accuracies)
    return [(0.99 - 0.98 * i / n, rng.random() < p) for i, p in enumerate(accuracies)]


def _exact_rule(calibration: list[tuple[float, bool]], target: float) -> bool:
    """The rule from its definition, with scipy's Clopper-Pearson upper bound at each tested grid point."""
    needed = min_trials_to_pass(target, ALPHA)
    bounds = []
    for threshold in GRID:
        accepted = [right for confidence, right in calibration if confidence >= threshold]
        n, k = len(accepted), sum(accepted)
        if n >= needed:
            bounds.append(1.0 if k == n else stats.beta.ppf(1 - ALPHA, k + 1, n - k))
    return bool(bounds) and max(bounds) < target


class TestTheRuleOnConstructedCurves:
    def test_a_model_right_two_times_in_three_everywhere_is_out_of_reach(self):
        calibration = _curve([0.67] * 100, random.Random(1))
        assessment = out_of_reach.assess(calibration, "accuracy", TARGET, CONFIDENCE)
        assert assessment.out_of_reach and assessment.tested > 0 and assessment.calibration_size == 100

    def test_a_good_model_that_certifies_nothing_is_not_out_of_reach(self):
        # 100 calibration items, the 80 most confident 95% right: no threshold passes the lower bound
        # (76 of 80 right is not enough evidence for 95%), yet the target is plainly there.
        calibration = [(0.99 - i / 200, i % 20 != 7) for i in range(80)] + [(0.3, i % 2 == 0) for i in range(20)]
        assert choose_threshold(calibration, TARGET, CONFIDENCE).threshold is None
        assert not out_of_reach.assess(calibration, "accuracy", TARGET, CONFIDENCE).out_of_reach

    def test_a_region_too_small_to_certify_does_not_make_the_target_reachable(self):
        # The 20 most confident are all right, the rest 60% right: 20 items can never pass at 95%
        # (59 are needed), and every region that could is far below the target.
        calibration = [(0.99, True)] * 20 + _curve([0.6] * 80, random.Random(2))
        assert out_of_reach.assess(calibration, "accuracy", TARGET, CONFIDENCE).out_of_reach

    def test_too_small_a_calibration_sample_says_nothing(self):
        calibration = [(0.9, False)] * 40  # 59 needed to test any point
        assessment = out_of_reach.assess(calibration, "accuracy", TARGET, CONFIDENCE)
        assert not assessment.out_of_reach and assessment.tested == 0

    @pytest.mark.parametrize("seed", range(40))
    def test_it_is_the_upper_bound_rule_at_every_tested_point(self, seed):
        rng = random.Random(seed)
        top, bottom = rng.uniform(0.8, 1.0), rng.uniform(0.3, 0.9)
        size = rng.choice([60, 100, 150])
        calibration = _curve([top] * (size // 2) + [bottom] * (size - size // 2), rng)
        assert out_of_reach.assess(calibration, "accuracy", TARGET, CONFIDENCE).out_of_reach == _exact_rule(
            calibration, TARGET)

    def test_the_highest_upper_bound_is_scipys(self):
        calibration = _curve([0.8] * 100, random.Random(3))
        needed = min_trials_to_pass(TARGET, ALPHA)
        expected = max(
            stats.beta.ppf(1 - ALPHA, k + 1, n - k) if k < n else 1.0
            for n, k in {(len(a), sum(a)) for a in (
                [right for confidence, right in calibration if confidence >= t] for t in GRID)} if n >= needed)
        assert out_of_reach.highest_upper_bound(calibration, "accuracy", TARGET, CONFIDENCE) == pytest.approx(
            expected, abs=1e-9)

    def test_the_reachable_target_is_the_highest_the_same_search_certifies(self):
        calibration = _curve([0.9] * 60 + [0.5] * 40, random.Random(4))
        lower, share = out_of_reach.reachable_target(calibration, "accuracy", TARGET, CONFIDENCE)
        assert lower is not None and 0.5 <= lower < TARGET
        chosen = choose_threshold(calibration, lower, CONFIDENCE)
        assert chosen.threshold is not None and share == chosen.accepted / 100
        assert choose_threshold(calibration, round(lower + 0.01, 2), CONFIDENCE).threshold is None

    def test_boxes_use_the_upper_bound_of_mean_quality(self):
        rng = random.Random(5)
        poor = [(0.99 - i / 200, min(1.0, max(0.0, rng.gauss(0.35, 0.1)))) for i in range(100)]
        good = [(0.99 - i / 200, min(1.0, max(0.0, rng.gauss(0.8, 0.1)))) for i in range(100)]
        assert out_of_reach.assess(poor, "mean IoU", 0.6, CONFIDENCE).out_of_reach
        assert not out_of_reach.assess(good, "mean IoU", 0.6, CONFIDENCE).out_of_reach
        upper = out_of_reach.highest_upper_bound(poor, "mean IoU", 0.6, CONFIDENCE)
        assert upper is not None and 0.35 < upper < 0.6


def _false_alarms(draw, measure: str, target: float, samples: int, seed: int) -> float:
    rng = random.Random(seed)
    return sum(out_of_reach.assess(draw(rng), measure, target, CONFIDENCE).out_of_reach
               for _ in range(samples)) / samples


def _pool_draw(reachable_share: float, top_accuracy: float, rest_accuracy: float, size: int = 100):
    """A calibration sample from a pool whose `reachable_share` most confident items are `top_accuracy`
    right (the target region) and the rest `rest_accuracy` right."""
    def draw(rng: random.Random) -> list[tuple[float, bool]]:
        items = []
        for _ in range(size):
            top = rng.random() < reachable_share
            confidence = rng.uniform(0.9, 0.99) if top else rng.uniform(0.2, 0.89)
            items.append((confidence, rng.random() < (top_accuracy if top else rest_accuracy)))
        return items
    return draw


class TestFalseAlarmsBySimulation:
    """A target that is there, at exactly the target accuracy (the hardest case for the rule), is called
    out of reach in at most 1 - ConfidenceLevel of iterations; 2,000 samples put 3 standard errors at 1.5
    points. A rule on point estimates (calibration accuracy below target everywhere) fails this: about
    half of such samples fall below the target by chance."""

    SAMPLES = 2000
    LIMIT = ALPHA + 3 * (ALPHA * (1 - ALPHA) / SAMPLES) ** 0.5

    def test_a_region_exactly_at_the_target_is_rarely_called_out_of_reach(self):
        rate = _false_alarms(_pool_draw(0.75, TARGET, 0.5), "accuracy", TARGET, self.SAMPLES, seed=11)
        assert rate <= self.LIMIT, rate

    def test_a_model_exactly_at_the_target_everywhere_is_rarely_called_out_of_reach(self):
        rate = _false_alarms(_pool_draw(1.0, TARGET, TARGET), "accuracy", TARGET, self.SAMPLES, seed=12)
        assert rate <= self.LIMIT, rate

    def test_at_a_lower_target_and_confidence_too(self):
        draw = _pool_draw(0.8, 0.85, 0.4, size=150)
        rng = random.Random(13)
        rate = sum(out_of_reach.assess(draw(rng), "accuracy", 0.85, 0.9).out_of_reach
                   for _ in range(self.SAMPLES)) / self.SAMPLES
        assert rate <= 0.1 + 3 * (0.1 * 0.9 / self.SAMPLES) ** 0.5, rate

    def test_boxes_exactly_at_the_target_mean_are_rarely_called_out_of_reach(self):
        def draw(rng: random.Random) -> list[tuple[float, float]]:
            # Qualities of mean 0.6 in the top 75% (0 or a Beta of mean 0.75: the spread boxes have).
            items = []
            for _ in range(100):
                top = rng.random() < 0.75
                quality = (0.0 if rng.random() < 0.2 else rng.betavariate(7.5, 2.5)) if top else rng.random() * 0.4
                items.append((rng.uniform(0.9, 0.99) if top else rng.uniform(0.2, 0.89), quality))
            return items
        rate = _false_alarms(draw, "mean IoU", 0.6, 1000, seed=14)
        assert rate <= ALPHA + 3 * (ALPHA * (1 - ALPHA) / 1000) ** 0.5, rate

    def test_and_a_hopeless_model_is_called_out_of_reach_nearly_always(self):
        rate = _false_alarms(_pool_draw(1.0, 0.8, 0.8), "accuracy", TARGET, 500, seed=15)
        assert rate >= 0.95, rate


class TestStreakAndDeclaration:
    # The 40 most confident all right, the rest a coin flip: 40 items can be certified at 92% at most,
    # and every region of the 59 needed for 95% is far below it.
    HOPELESS = [(0.99 - i / 200, i < 40 or i % 2 == 0) for i in range(100)]
    GOOD = [(0.99 - i / 200, True) for i in range(100)]

    def _settings(self, **overrides) -> JobConfig:
        return JobConfig(TaskType="text-classification", **overrides)

    def test_n_in_a_row_declare_once_with_the_figures_for_the_report(self):
        settings, streak = self._settings(OutOfReachIterations=3), 0
        for expected in (1, 2):
            streak, declared = out_of_reach.after_iteration(self.HOPELESS, streak, measure="accuracy",
                                                            target=TARGET, settings=settings)
            assert (streak, declared) == (expected, None)
        streak, declared = out_of_reach.after_iteration(self.HOPELESS, streak, measure="accuracy", target=TARGET,
                                                        settings=settings)
        assert streak == 3 and declared is not None
        assert declared["trainingStopped"] is True and declared["iterations"] == 3
        assert declared["highestUpperBound"] < TARGET
        assert declared["reachableTarget"] == 0.92 and declared["reachableShare"] == pytest.approx(0.4, abs=0.01)
        text = out_of_reach.describe(declared)
        assert "out of reach" in text and "training stopped" in text and "TargetAccuracy of" in text

    def test_an_iteration_within_reach_resets_the_streak(self):
        settings = self._settings(OutOfReachIterations=2)
        streak, _ = out_of_reach.after_iteration(self.HOPELESS, 0, measure="accuracy", target=TARGET,
                                                 settings=settings)
        streak, declared = out_of_reach.after_iteration(self.GOOD, streak, measure="accuracy", target=TARGET,
                                                        settings=settings)
        assert (streak, declared) == (0, None)

    def test_with_the_setting_off_it_is_declared_but_training_goes_on(self):
        settings = self._settings(OutOfReachIterations=1, StopTrainingWhenOutOfReach=False)
        _, declared = out_of_reach.after_iteration(self.HOPELESS, 0, measure="accuracy", target=TARGET,
                                                   settings=settings)
        assert declared is not None and declared["trainingStopped"] is False
        assert "training goes on" in out_of_reach.describe(declared)

    def test_the_report_counts_the_models_trained_after_the_declaration_and_their_cost(self):
        declared = {"iteration": 1, "iterations": 2, "measure": "accuracy", "target": TARGET,
                    "highestUpperBound": 0.8, "reachableTarget": 0.7, "reachableShare": 0.3,
                    "trainingStopped": False}
        rows = [{"iteration": k, "modelTrained": True, "machineLabeled": m, "humanLabeled": 150,
                 "trainingSeconds": 360.0, "transformSeconds": 720.0} for k, m in enumerate([0, 0, 0, 5])]
        section = out_of_reach.report_section(declared, rows, stop_setting=False, training_usd_per_hour=1.0,
                                              inference_usd_per_hour=0.5)
        assert section is not None
        assert (section["modelsTrainedAfter"], section["machineLabeledAfter"], section["humanLabeledAfter"]) == (
            2, 5, 300)
        assert section["sageMakerUSDAfter"] == pytest.approx(2 * (0.1 * 1.0 + 0.2 * 0.5))
        assert out_of_reach.report_section(None, rows, stop_setting=True, training_usd_per_hour=1.0,
                                           inference_usd_per_hour=0.5) is None


def test_the_stop_survives_a_resume():
    """A resumed run starts from the checkpointed state (logic/resume.py): the declaration and the
    streak come back with it, so the resumed job trains no model either."""
    from labeling.logic.resume import NEXT_STATE, resumed_state
    from labeling.models.state import JobState

    state = JobState.model_validate({
        "job": {"name": "news", "bucket": "b", "prefix": "jobs/news/", "outputPrefix": "jobs/news/output/",
                "automated": True, "labelNames": ["a", "b"], "settings": {"TaskType": "text-classification"}},
        "runId": "r1", "iteration": 3, "counts": {"total": 2000, "humanLabeled": 500, "pool": 900},
        "outOfReachStreak": 3,
        "outOfReach": {"iteration": 2, "iterations": 3, "measure": "accuracy", "target": 0.95,
                       "highestUpperBound": 0.81, "reachableTarget": 0.7, "reachableShare": 0.2,
                       "trainingStopped": True},
    })
    for after in ("ComputeThreshold", "ApplyThreshold", "SelectAmbiguous", "ConsolidateAnnotations"):
        checkpoint = {"version": 1, "after": after, "next": NEXT_STATE[after], "state": state.dump()}
        resumed = JobState.model_validate(resumed_state(checkpoint, bucket="b", manifest_key="")["state"])
        assert resumed.out_of_reach_streak == 3 and out_of_reach.training_stopped(resumed.out_of_reach)
        assert resumed.out_of_reach == state.out_of_reach


class TestTheReport:
    """report.json's outOfReach and report.md's paragraph (report.py, report_summary.py)."""

    DECLARED = {"iteration": 0, "iterations": 3, "measure": "accuracy", "target": 0.95, "highestUpperBound": 0.812,
                "reachableTarget": 0.8, "reachableShare": 0.34, "trainingStopped": False}

    def test_a_job_never_out_of_reach_says_nothing_of_it(self):
        from labeling.logic.report_summary import markdown
        from tests.unit.test_report import report

        assert report()["outOfReach"] is None and "out of reach" not in markdown(report())

    def test_with_the_setting_off_the_report_says_what_the_models_after_it_cost_and_labeled(self):
        from labeling.logic.report_summary import markdown
        from tests.unit.test_report import SETTINGS, report

        settings = SETTINGS.model_copy(update={"StopTrainingWhenOutOfReach": False})
        built = report(settings=settings, out_of_reach=self.DECLARED)
        section = built["outOfReach"]
        # Iterations 1 and 2 of test_report's job trained models after the declaration, 3 did not.
        assert (section["modelsTrainedAfter"], section["machineLabeledAfter"]) == (2, 1000)
        assert section["trainingSecondsAfter"] == 2700 and section["transformSecondsAfter"] == 540
        assert section["stopTrainingWhenOutOfReach"] is False
        text = markdown(built)
        assert ("**The target looked out of reach.** For 3 iterations in a row, up to iteration 0, the calibration "
                "curve put the target accuracy of 95.0% out of the model's reach: wherever enough calibration items "
                "lay to certify anything, its accuracy was at most 81.2% (95% upper confidence bound). "
                "A TargetAccuracy of 80.0% would have labeled about 34% of the pool. "
                "StopTrainingWhenOutOfReach was off, so the job went on training: 2 more model(s) after iteration 0, "
                "3,240 s of SageMaker time ($0.34), which machine-labeled 1,000 items.") in text
