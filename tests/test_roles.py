import numpy as np
import pytest

from advisor.io.roles import features, resolve, tokens
from advisor.model import Role, Run, Series


def run_with(*tags, n=50, path="/x/run"):
    series = {}
    for tag in tags:
        split = None
        if ":" in tag:
            split, tag = tag.split(":", 1)
        s = Series.from_points(tag, np.arange(n), np.linspace(2, 1, n), split=split)
        series[s.key] = s
    return Run("run", path, series)


def roles_of(*tags, **kw):
    return {r.value: k for r, k in resolve(run_with(*tags), kw.get("mapping")).roles.items()}


@pytest.mark.parametrize(
    "tags, expected",
    [
        # advisor's own trainers (SPEC §6)
        (("train/loss", "val/loss", "train/lr", "train/grad_norm", "train/accuracy", "val/accuracy", "train/update_ratio"),
         {"train_loss": "train/loss", "val_loss": "val/loss", "lr": "train/lr", "grad_norm": "train/grad_norm", "train_acc": "train/accuracy", "val_acc": "val/accuracy", "update_ratio": "train/update_ratio"}),
        # Hugging Face Trainer
        (("train/loss", "eval/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "eval/accuracy", "eval/runtime"),
         {"train_loss": "train/loss", "val_loss": "eval/loss", "lr": "train/learning_rate", "grad_norm": "train/grad_norm", "epoch": "train/epoch", "val_acc": "eval/accuracy"}),
        # Lightning
        (("train_loss_step", "train_loss_epoch", "val_loss", "lr-Adam", "epoch", "val_acc"),
         {"train_loss": "train_loss_step", "val_loss": "val_loss", "lr": "lr-Adam", "epoch": "epoch", "val_acc": "val_acc"}),
        # SummaryWriter habits
        (("Loss/train", "Loss/val", "Accuracy/train", "Accuracy/val"),
         {"train_loss": "Loss/train", "val_loss": "Loss/val", "train_acc": "Accuracy/train", "val_acc": "Accuracy/val"}),
        (("loss", "val_loss", "val_acc"), {"train_loss": "loss", "val_loss": "val_loss", "val_acc": "val_acc"}),
        # Keras split directories
        (("train:epoch_loss", "validation:epoch_loss", "train:epoch_accuracy", "validation:epoch_accuracy", "validation:evaluation_loss_vs_iterations"),
         {"train_loss": "train/epoch_loss", "val_loss": "validation/epoch_loss", "train_acc": "train/epoch_accuracy", "val_acc": "validation/epoch_accuracy"}),
        # Catalyst
        (("train_log:loss/batch", "train_log:loss/epoch", "valid_log:loss/batch", "valid_log:loss/epoch", "_base_log:lr/epoch"),
         {"train_loss": "train_log/loss/batch", "val_loss": "valid_log/loss/epoch", "lr": "_base_log/lr/epoch"}),
        # Lightning grad-norm tracking and camelCase
        (("trainLoss", "valLoss", "grad_2.0_norm_total", "grad_2.0_norm/layer1.weight"),
         {"train_loss": "trainLoss", "val_loss": "valLoss", "grad_norm": "grad_2.0_norm_total"}),
    ],
)
def test_writer_conventions(tags, expected):
    got = roles_of(*tags)
    for role, tag in expected.items():
        assert got.get(role) == tag, (role, got)


def test_loss_scale_and_hp_metric_are_not_losses():
    got = roles_of("loss_scale", "hp_metric", "train/loss")
    assert got["train_loss"] == "train/loss"
    assert features(run_with("loss_scale").series["loss_scale"]).kind is None


def test_yolo_components_summed():
    run = run_with("train/box_loss", "train/obj_loss", "train/cls_loss", "val/box_loss", "val/obj_loss", "val/cls_loss", "x/lr0", "x/lr1")
    sig = resolve(run)
    tl = sig.get(run, Role.TRAIN_LOSS)
    assert sig.roles[Role.TRAIN_LOSS] == "train/box_loss+obj_loss+cls_loss"
    assert np.allclose(tl.values, 3 * np.linspace(2, 1, 50))
    assert sig.roles[Role.LR] == "x/lr0"
    assert any("sum" in n for n in sig.notes)


def test_test_split_used_as_held_out_only_without_val():
    got = roles_of("train:loss", "test:loss")
    assert got["val_loss"] == "test/loss"
    got = roles_of("train:loss", "test:loss", "valid:loss")
    assert got["val_loss"] == "valid/loss"



def test_a_test_loop_logged_by_batch_index_is_no_held_out_curve():
    # Lightning's test loop after a 2,400-step run, logged with on_step: test_loss_step at steps
    # 0-19 (its batches). Taken as the held-out loss it read as "val below train" and "noisy
    # validation" of a run that logged no validation at all.
    from advisor.model import Run, Series

    def ser(tag, steps, values):
        return Series.from_points(tag, np.asarray(steps), np.asarray(values, float), np.arange(len(steps), dtype=float))

    steps = np.arange(49, 2450, 50)
    series = {s.key: s for s in (
        ser("train_loss_step", steps, np.linspace(1.8, 0.7, steps.size)),
        ser("test_loss_step", np.arange(20), np.full(20, 0.6)),
    )}
    signals = resolve(Run(name="r", path="/nonexistent/r", series=series, hparams={}, config={}))
    assert "val_loss" not in {r.value for r in signals.roles}
    assert any("one evaluation pass" in n for n in signals.notes)
    series["test_loss_step"] = ser("test_loss_step", np.arange(99, 2450, 250), np.linspace(1.7, 0.8, 10))
    assert resolve(Run(name="r", path="/nonexistent/r", series=series, hparams={}, config={})).roles[Role.VAL_LOSS] == "test_loss_step"


def test_a_bare_index_suffix_keeps_a_loss_generic():
    # pytorch_tabular logs train_loss every 50 steps (12 points over a 160-epoch run) and
    # train_loss_0, its first target's loss, every epoch (160): the index names no other quantity,
    # so the denser stream is the train loss
    def ser(tag, n):
        return Series.from_points(tag, np.arange(n), np.linspace(1.1, 0.7, n), np.arange(n, dtype=float))

    assert features(ser("train_loss_0", 160)).generic and not features(ser("train_loss_mae", 160)).generic
    run = Run(name="r", path="/nonexistent/r", series={s.key: s for s in (ser("train_loss", 12), ser("train_loss_0", 160))}, hparams={}, config={})
    assert resolve(run).roles[Role.TRAIN_LOSS] == "train_loss_0"

def test_run_dir_name_is_a_split_hint():
    run = run_with("epoch_loss", path="/logs/fit/validation")
    assert resolve(run).roles.get(Role.VAL_LOSS) == "epoch_loss"


def test_layer_grad_norms_listed_not_global():
    sig = resolve(run_with("train/loss", "train/grad_norm", "train/grad_norm/fc1.weight", "train/grad_norm/fc2.weight"))
    assert sig.roles[Role.GRAD_NORM] == "train/grad_norm"
    assert sig.layer_grad_norms == ("train/grad_norm/fc1.weight", "train/grad_norm/fc2.weight")


def test_unresolved_reported_not_guessed():
    sig = resolve(run_with("weird/thing", "other"))
    assert sig.roles == {} and Role.TRAIN_LOSS in sig.unresolved


def test_user_mapping_wins_and_globs():
    got = roles_of("objective_value", "holdout_metric", mapping={"train_loss": "objective_*", "val_loss": "holdout_metric"})
    assert got == {"train_loss": "objective_value", "val_loss": "holdout_metric"}
    sig = resolve(run_with("train/loss"), {"val_loss": "nope"})
    assert Role.VAL_LOSS not in sig.roles and any("nope" in n for n in sig.notes)


def test_per_epoch_val_mapped_onto_step_axis():
    train = Series.from_points("loss/batch", np.arange(1, 2001), np.linspace(2, 1, 2000), split="train")
    val = Series.from_points("loss/epoch", np.arange(1, 11), np.linspace(2, 1, 10), split="valid")
    run = Run("r", "/x/r", {train.key: train, val.key: val})
    sig = resolve(run)
    v = sig.get(run, Role.VAL_LOSS)
    assert v.steps[-1] == 2000 and v.steps[0] == 200
    assert sig.roles[Role.VAL_LOSS] == "valid/loss/epoch"  # the tag name is kept
    assert any("per epoch" in n for n in sig.notes)


def test_tokens():
    assert tokens("train/lossStep") == ["train", "loss", "step"]
    assert tokens("lr-AdamW") == ["lr", "adam", "w"]
    # IoU and its averages are one word: camel-case splitting read mIoU as m + io + u, no metric at all
    assert tokens("sem_seg/mIoU") == ["sem", "seg", "miou"]
    assert tokens("sem_seg/fwIoU") == ["sem", "seg", "fwiou"]
    assert tokens("sem_seg/IoU-road") == ["sem", "seg", "iou", "road"]
    assert tokens("valIoU") == ["val", "iou"]


def _evaluator_run(acc_points: int):
    """Detectron2's semantic-segmentation layout: a per-step total_loss, and the evaluator's
    sem_seg/* metrics every 500 iterations naming no side."""
    series = {}
    for tag, n in (("total_loss", 400), ("sem_seg/mIoU", 20), ("sem_seg/IoU-road", 20), ("sem_seg/mACC", acc_points)):
        s = Series.from_points(tag, np.linspace(0, 8000, n).astype(int), np.linspace(2, 1, n))
        series[s.key] = s
    return Run("run", "/x/run", series)


def test_evaluator_accuracy_beside_a_sideless_metric_is_validation():
    roles = {r.value: k for r, k in resolve(_evaluator_run(20)).roles.items()}
    # the averaged IoU outranks a class's IoU, and the evaluator's mean accuracy is not the train accuracy
    assert roles["val_metric"] == "sem_seg/mIoU"
    assert roles.get("val_acc") == "sem_seg/mACC" and "train_acc" not in roles
    # an accuracy logged at the train loss's own cadence stays the train accuracy
    roles = {r.value: k for r, k in resolve(_evaluator_run(400)).roles.items()}
    assert roles.get("train_acc") == "sem_seg/mACC" and "val_acc" not in roles


def test_params_lookup_across_writers():
    from advisor.rules.base import Context

    run = run_with("train/loss")
    run.config = {"optim": {"name": "sgd", "lr": 0.1, "clip_norm": 0.0}, "schedule": {"kind": "cosine"}, "early_stop": {"patience": 0, "step": 0}, "data": {"batch_size": 32}}
    ctx = Context(run, resolve(run))
    assert ctx.param("optimizer") == "sgd" and ctx.param("schedule") == "cosine" and ctx.num_param("lr") == 0.1
    assert ctx.num_param("batch_size") == 32 and ctx.num_param("clip") == 0.0
    assert ctx.early_stopping is None  # 0 means off
    run.config["early_stop"] = {"patience": 5, "step": 0, "restore_best": True}
    assert Context(run, resolve(run)).early_stopping == {"patience": 5, "restore_best": True}
    hf = run_with("train/loss")
    hf.texts = {"args/text_summary": '{"learning_rate": 5e-05, "per_device_train_batch_size": 16, "lr_scheduler_type": "linear", "max_grad_norm": 1.0}'}
    ctx = Context(hf, resolve(hf))
    assert ctx.num_param("lr") == 5e-05 and ctx.num_param("batch_size") == 16 and ctx.param("schedule") == "linear" and ctx.num_param("clip") == 1.0


def test_a_tag_that_names_its_side_keeps_it_over_the_split_dir():
    assert roles_of("train:loss", "train:val/loss")["val_loss"] == "train/val/loss"


def test_a_lightning_name_ending_with_its_split_keeps_that_split():
    # Lightning's on_step/on_epoch suffixes on a metric the user named `val_loss_<split>` (DFB,
    # extra18): the split before the suffix is the side, not the leading word of the name
    got = roles_of("val_loss_train_step", "val_loss_train_epoch", "val_loss_valid_step", "val_loss_valid_epoch", "val_loss_test_epoch", "epoch")
    assert got["train_loss"].startswith("val_loss_train_") and got["val_loss"].startswith("val_loss_valid_")


def test_a_side_word_inside_another_name_does_not_override_the_split():
    got = roles_of("train:Training_procedure/cost", "valid:Training_procedure/cost")
    assert got["train_loss"] == "train/Training_procedure/cost" and got["val_loss"] == "valid/Training_procedure/cost"


@pytest.mark.parametrize("tag", ["val_ce", "val/cross_entropy", "valid_bce"])
def test_cross_entropy_names_resolve_as_losses(tag):
    assert roles_of("train_ce", tag)["train_loss"] == "train_ce"
    assert roles_of("train_ce", tag)["val_loss"] == tag


def test_ultralytics_run_named_train_keeps_its_metrics_on_the_val_side():
    run = run_with("train/box_loss", "train/cls_loss", "val/box_loss", "val/cls_loss", "metrics/mAP50(B)", "lr/pg0", path="/runs/detect/train")
    roles = resolve(run).roles
    assert roles[Role.VAL_LOSS].startswith("val/")
    assert roles.get(Role.VAL_METRIC) == "metrics/mAP50(B)" and Role.TRAIN_METRIC not in roles


def test_fairseq_layout_per_update_train_inner_and_gnorm(tmp_path):
    # fairseq's tensorboard logger: <logdir>/train_inner (per update: loss, lr, gnorm, ...),
    # <logdir>/train and <logdir>/valid (per epoch). One run; the per-update stream is the
    # train loss, gnorm the global gradient norm.
    from advisor.io.discover import discover
    from advisor.io.runs import load_run
    from advisor.io.writer import EventWriter

    for split, every in (("train_inner", 100), ("train", 500), ("valid", 500)):
        with EventWriter(str(tmp_path / "tb" / split)) as w:
            for s in range(every, 3001, every):
                w.add_scalar("loss", 8 * np.exp(-s / 800) + 3, s)
                if split == "train_inner":
                    w.add_scalar("lr", 5e-4, s)
                    w.add_scalar("gnorm", 1.5, s)
    (rf,) = discover(str(tmp_path)).runs
    got = {r.value: k for r, k in resolve(load_run(rf)).roles.items()}
    assert got["train_loss"] == "train_inner/loss" and got["val_loss"] == "valid/loss"
    assert got["grad_norm"] == "train_inner/gnorm" and got["lr"] == "train_inner/lr"


def test_megatron_tags_and_a_perplexity_beside_its_loss_is_a_metric_not_a_loss_part():
    # Megatron-LM: "lm loss", "lm loss validation", "lm loss validation ppl", "learning-rate",
    # "grad-norm", "loss-scale", "lm loss vs samples". The perplexity carries the word loss; read
    # as a loss it was summed with the val loss as a component (val 4,000x the train loss).
    got = roles_of("lm loss", "lm loss vs samples", "learning-rate", "grad-norm", "loss-scale", "lm loss validation", "lm loss validation ppl")
    assert got["train_loss"] == "lm loss" and got["val_loss"] == "lm loss validation"
    assert got["val_metric"] == "lm loss validation ppl" and got["lr"] == "learning-rate" and got["grad_norm"] == "grad-norm"
    assert features(Series.from_points("train_inner/ppl", [1, 2, 3], [9.0, 8.0, 7.0])).kind == "metric"


def test_detectron2_coco_ap_is_the_task_metric():
    # Detectron2's COCO evaluator: bbox/AP (0.5:0.95), bbox/AP50, bbox/AP75, bbox/APs/m/l
    got = roles_of("total_loss", "loss_cls", "loss_box_reg", "lr", "fast_rcnn/cls_accuracy", "bbox/AP", "bbox/AP50", "bbox/AP75", "bbox/APs")
    assert got["train_loss"] == "total_loss" and got["val_metric"] == "bbox/AP"


def test_speech_word_error_rate_is_the_task_metric_before_the_character_one():
    got = roles_of("train/loss", "valid/loss", "valid/CER", "valid/WER", "lr")
    assert got["val_loss"] == "valid/loss" and got["val_metric"] == "valid/WER"


def test_a_perplexity_naming_no_side_is_the_evaluation_metric():
    # Hugging Face's Accelerate examples log the eval perplexity as "perplexity" beside "train_loss"
    got = roles_of("train_loss", "perplexity", "epoch")
    assert got["val_metric"] == "perplexity" and "val_loss" not in got
    assert "val_metric" not in roles_of("train_loss", "mse")  # a side-less error may be the train side's


def test_keras_batch_loss_gives_way_to_its_epoch_twin():
    # TensorBoard(update_freq=N): batch_loss is the mean of the epoch's batches so far, reset each
    # epoch — a sawtooth that read as unshuffled data on a healthy Keras run; epoch_loss is the
    # train loss when it has 8 points or more, batch_loss otherwise
    def keras(epochs):
        b = Series.from_points("batch_loss", np.arange(epochs * 30), np.linspace(2, 1, epochs * 30), split="train")
        e = Series.from_points("epoch_loss", np.arange(epochs), np.linspace(2, 1, epochs), split="train")
        return Run("run", "/x/run", {b.key: b, e.key: e})
    sig = resolve(keras(20))
    assert sig.roles[Role.TRAIN_LOSS] == "train/epoch_loss" and any("running mean" in n for n in sig.notes)
    assert resolve(keras(5)).roles[Role.TRAIN_LOSS] == "train/batch_loss"


def _tf1_run(k=128.0, twin="average_loss", ratio_noise=0.0):
    # a TF1 canned estimator: `loss` summed over the batch beside its per-example mean; a batch
    # fitted exactly logs 0 in both
    rng = np.random.default_rng(0)
    steps = np.arange(1, 3001, 100)
    mean = 0.69 * np.exp(-steps / 800) + 0.02 * rng.random(steps.size)
    mean[[7, 19]] = 0.0
    summed = k * mean * (1 + ratio_noise * rng.standard_normal(steps.size))
    ev = np.arange(1000, 3001, 1000)
    ev_mean = np.array([0.4, 0.3, 0.25])
    series = {}
    ev_summed = k * ev_mean * (1 + ratio_noise * rng.standard_normal(ev.size))
    for tag, st, v in (("loss", steps, summed), (twin, steps, mean), ("eval/loss", ev, ev_summed), (f"eval/{twin}", ev, ev_mean)):
        s = Series.from_points(tag, st, v)
        series[s.key] = s
    return Run("model", "/x/model", series)


def test_a_batch_summed_loss_gives_way_to_its_per_example_twin():
    sig = resolve(_tf1_run())
    assert sig.roles[Role.TRAIN_LOSS] == "average_loss" and sig.roles[Role.VAL_LOSS] == "eval/average_loss"
    assert any("summed over the batch (128x)" in n for n in sig.notes)
    # two losses that are not one scaled copy of the other (a regulariser, a different quantity) stay apart
    sig = resolve(_tf1_run(twin="reg_loss", ratio_noise=0.05))
    assert sig.roles[Role.TRAIN_LOSS] == "loss" and sig.roles[Role.VAL_LOSS] == "eval/loss"
    # a copy at the same scale is no batch sum
    sig = resolve(_tf1_run(k=1.0))
    assert sig.roles[Role.TRAIN_LOSS] == "loss"


def test_a_loss_written_as_zeros_from_its_first_point_is_a_placeholder():
    # YOLOv5 trained with --notest: val/* hold 0.0 at every epoch but the last
    steps = np.arange(21, 121)
    train = 0.08 * np.exp(-(steps - 21) / 60) + 0.03
    val = np.zeros(steps.size)
    val[-1] = 0.139
    series = {}
    for tag, v in (("train/box_loss", train), ("val/box_loss", val)):
        s = Series.from_points(tag, steps, v)
        series[s.key] = s
    sig = resolve(Run("exp2", "/x/exp2", series))
    assert sig.roles[Role.TRAIN_LOSS] == "train/box_loss" and Role.VAL_LOSS not in sig.roles
    assert any("placeholder" in n for n in sig.notes)
    # a measured loss that starts above 0 and underflows to an exact 0 (a separable set at huge
    # logits in float32) is still the loss
    fitted = np.where(steps > 40, 0.0, 0.7 * np.exp(-(steps - 21) / 5))
    series = {"train/loss": Series.from_points("train/loss", steps, fitted)}
    assert resolve(Run("blobs", "/x/blobs", series)).roles[Role.TRAIN_LOSS] == "train/loss"


def test_a_part_always_zero_inside_a_sum_stays_in_the_sum():
    # YOLOv5 on one class: cls_loss is 0 throughout, box and obj are measured
    steps = np.arange(100)
    series = {}
    for tag, v in (("train/box_loss", 0.08 * np.exp(-steps / 60) + 0.03), ("train/obj_loss", 0.05 * np.exp(-steps / 40) + 0.02),
                   ("train/cls_loss", np.zeros(100))):
        s = Series.from_points(tag, steps, v)
        series[s.key] = s
    sig = resolve(Run("exp", "/x/exp", series))
    assert sig.roles[Role.TRAIN_LOSS] == "train/box_loss+obj_loss+cls_loss"


def test_a_run_name_written_into_the_tag_does_not_decide_its_kind():
    # TF2 custom writers prefixing every tag with the run's name (a real homework run,
    # extra15): "LR-low" made the accuracy a learning rate and unmade the loss
    prefix = "LR-low, opt_SGD, arch_high/"
    got = roles_of(f"train:{prefix}train_loss", f"train:{prefix}train_accuracy", f"val:{prefix}test_loss", f"val:{prefix}test_accuracy")
    assert got["train_loss"] == f"train/{prefix}train_loss"
    assert got["train_acc"] == f"train/{prefix}train_accuracy"
    # a test loss under val/ stands for validation, and so does its accuracy
    assert got["val_loss"] == f"val/{prefix}test_loss"
    assert got["val_acc"] == f"val/{prefix}test_accuracy"
    assert "lr" not in got
    # "Time" in a run name is no wall-clock quantity either
    assert features(run_with("train/TimeSeriesNet/1. Recovery loss").series["train/TimeSeriesNet/1. Recovery loss"]).kind == "loss"
    # while a tag whose last part names nothing keeps the whole tag's reading
    assert roles_of("Loss/train", "x/lr0")["lr"] == "x/lr0"


def test_a_gan_stage_is_not_summed_and_a_discriminator_accuracy_is_no_task_accuracy():
    # TimeGAN logs its stages side by side; the adversarial stage's losses are unlike objectives
    g = "train/3. TimeGAN training - GAN/"
    got = roles_of("train/1. Pre-training autoencoder/1. Recovery loss", g + "1. Unsupervised loss", g + "1. Supervised loss",
                   g + "1. Feature Matching loss", "fake_data/3. TimeGAN training - GAN/2. Accuracy")
    assert got["train_loss"] == "train/1. Pre-training autoencoder/1. Recovery loss"
    assert "train_acc" not in got and "val_acc" not in got
