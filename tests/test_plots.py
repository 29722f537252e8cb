from suite import plots


def test_learning_curves_draw_validation_only_metrics_too():
    figure = plots.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.6],
                                    "val_cer": [0.4, 0.3], "learning_rate": [1e-3, 5e-4]})
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["loss", "cer"]
    assert [line.get_label() for line in figure.axes[1].get_lines()] == ["validation"]
