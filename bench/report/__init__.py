"""The report of a ``bench run``: ``report/results.json`` (every number, each with the
run-directory file it comes from) rendered as ``report.md`` and a self-contained
``report.html`` (figures embedded). Rendering reads only ``results.json``, so
``bench report`` regenerates the report without hardware.

| module | holds |
|---|---|
| ``results`` | :func:`build_results`: the stages' outputs gathered into one dict |
| ``render`` | :func:`render` / :func:`rebuild_report`: the sections in order, markdown and HTML |
| ``text`` | the HTML of the report's small markdown subset (contents, captions, verdict box), number formatting |
| ``findings`` | the verdict: main method vs baseline, operating points, deploy readback, replay, energy |
| ``header`` | title, context of the run and the verdict box |
| ``accuracy`` | software accuracy and memory energy of the main method and its baselines |
| ``operating_points`` | the operating point chosen per layer and its predicted energy |
| ``energy`` | energy measured on the board against the prediction |
| ``board`` | accuracy on the board, the fault maps read back, replayed and checked |

A section module has ``figures(results) -> {name: PNG bytes}`` and
``markdown(results, image_src) -> [lines]`` (``image_src(name)`` links a figure).
"""
