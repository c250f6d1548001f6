"""The course's grading pipeline around nbgrader: `python -m autograder release | check | grade DIR | demo`.

Modules, one idea each:
- `workspace`: where things are (`Course`) and the nbgrader course roots we grade in (`Workspace`);
- `nbgrader_config.py`, `kernel_startup.py`, `preprocessors`: how nbgrader runs a submission;
- `release`: course/ from solutions/;
- `submissions`: finding the submissions in a folder, whatever its layout;
- `grade`: autograde, grades.csv and feedback, one student at a time;
- `cells`: what a notebook's nbgrader cells are (the catalog's exercise ids: tests/catalog.py);
- `samples`, `verify`: sample submissions with their expected scores, graded and compared.
"""
