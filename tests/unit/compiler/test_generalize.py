"""The failure classes found on unseen prompts, each in at least two languages (phrasings written for these tests).

List literals, question sets with headings / points / sub-parts / checkboxes, fields named in running text or
given as a format to fill, short repeated-generation requests, sets of target languages or formats.
"""

from __future__ import annotations

import pytest

from graphs.compiler import compile_prompt, extract_rules, validate


def schema_of(prompt: str):
    return validate(extract_rules(prompt))


# --- list literals -------------------------------------------------------------------

@pytest.mark.parametrize("prompt, items", [
    ('My quiz, as a Python list:\nquiz = ["What melts ice fastest?", "Why do cats purr?", "Where do eels spawn?"]\n'
     "Give a short answer to each.", ["What melts ice fastest?", "Why do cats purr?", "Where do eels spawn?"]),
    ('Answer every question in this JSON array:\n[\n  "Who built the first telescope?",\n'
     '  "How old is the universe?"\n]', ["Who built the first telescope?", "How old is the universe?"]),
    ("Contesta cada pregunta de la lista: ['¿Por qué llueve?', '¿Qué come un koala?', '¿Cuánto mide un metro?']",
     ["¿Por qué llueve?", "¿Qué come un koala?", "¿Cuánto mide un metro?"]),
    ('Beantworte die folgenden Fragen:\n```json\n["Wie entsteht Nebel?", "Warum ist Schnee weiß?"]\n```',
     ["Wie entsteht Nebel?", "Warum ist Schnee weiß?"]),
    ('请回答这个列表里的问题：["月亮为什么会发光？", "海水为什么是咸的？"]', ["月亮为什么会发光？", "海水为什么是咸的？"]),
])
def test_list_literal_after_an_introduction(prompt, items):
    s = schema_of(prompt)
    assert s.passes and s.pattern == "literal" and s.data == items
    assert s.template.count("{data}") == 1


def test_list_literal_handed_to_code_is_not_split():
    s = schema_of('Write a Python function that sorts this list: ["pear", "apple", "fig"]')
    assert s.pattern != "literal"


def test_list_literal_inside_a_program_is_not_split():
    s = schema_of("Why does this loop print nothing?\n```python\nnames = ['ann', 'bob']\nfor n in names[2:]:\n"
                  "    print(n)\n```")
    assert not s.passes


# --- question sets ------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, count", [
    ("Answer all the questions.\n\nPart A: Numbers\n1. What is 7 times 8?\n2. Is 51 prime?\n\n"
     "Part B: Shapes\n1. How many sides has a hexagon?\n2. What is a rhombus?", 4),
    ("Beantworte die Fragen.\nTeil 1: Erdkunde\n1. Wo liegt der Harz? (3 Punkte)\n2. Wie lang ist der Rhein? "
     "(2 Punkte)\nTeil 2: Biologie\n3. Was ist ein Enzym? (5 Punkte)", 3),
    ("Ответьте на вопросы.\nЧасть 1. Литература\n1. Кто написал «Обломова»? (2 балла)\n"
     "2. Что такое ямб? (3 балла)\nЧасть 2. Музыка\n3. Кто такой Глинка? (2 балла)", 3),
    ("请回答下列问题。\n一、填空题\n1. 一年有几个季节？（2分）\n2. 水在几度结冰？（2分）\n二、问答题\n3. 为什么会有四季？（6分）", 3),
])
def test_section_headings_are_not_items(prompt, count):
    s = schema_of(prompt)
    assert s.passes and s.count == count
    assert not any(word in " ".join(s.data) for word in ("Part B", "Teil 2", "Часть 2", "二、"))


@pytest.mark.parametrize("prompt", [
    "Please answer:\n1. Think about bridges.\n   a. Why do bridges sway?\n   b. What is a truss?\n"
    "2. Think about towers.\n   a. Why are towers tapered?\n3. What is concrete made of?",
    "Réponds aux questions :\n1. Sur les plantes :\n   a) Qu'est-ce que la sève ?\n   b) Pourquoi les feuilles "
    "tombent-elles ?\n2. Sur les animaux :\n   a) Qu'est-ce qu'un mammifère ?\n3. Qu'est-ce qu'un fossile ?",
])
def test_sub_parts_stay_with_their_question(prompt):
    s = schema_of(prompt)
    assert s.passes and s.count == 3
    assert ("a." in s.data[0] or "a)" in s.data[0]) and ("b." in s.data[0] or "b)" in s.data[0])


@pytest.mark.parametrize("prompt", [
    "Answer the quiz.\nQuestion 1 (4 points): What is sonar?\nQuestion 2 (6 points): How do bats hunt?",
    "Responde.\nPregunta 1 (2 puntos): ¿Qué es el sonar?\nPregunta 2 (3 puntos): ¿Cómo cazan los murciélagos?",
    "请回答。\n第一题：什么是声呐？\n第二题：蝙蝠如何捕猎？",
])
def test_points_or_a_label_between_number_and_question(prompt):
    s = schema_of(prompt)
    assert s.passes and s.count == 2
    assert not any("points" in d or "puntos" in d for d in s.data)


def test_points_are_not_a_count():
    s = schema_of("次の質問に答えてください。\n1. 富士山の高さは？（10点）\n2. 日本の首都は？（5点）")
    assert s.passes and s.data is not None and s.count == 2


@pytest.mark.parametrize("prompt", [
    "Go through this checklist and answer each:\n- [ ] Is the backup recent?\n- [x] Is the firewall on?\n"
    "- [ ] Are passwords rotated?",
    "Responde a cada punto:\n☐ ¿Está la puerta cerrada?\n☐ ¿Está la luz apagada?\n☐ ¿Está el gas cerrado?",
])
def test_checkbox_markers_are_bullets(prompt):
    s = schema_of(prompt)
    assert s.passes and s.count == 3
    assert not any(d.startswith(("[", "☐")) for d in s.data)


# --- fields to extract ----------------------------------------------------------------------

@pytest.mark.parametrize("prompt, items", [
    ("Pull the model, the price and the warranty out of this listing.\n\nThe Zephyr 3 kettle costs 39 euros and "
     "comes with a two-year warranty.", ["model", "price", "warranty"]),
    ("From the note below, I need the sender, the meeting day and the room.\n\nHi team, Priya here: we meet "
     "on Thursday in room 4B.", ["sender", "meeting day", "room"]),
    ("Del correo siguiente, extrae el remitente, la fecha y el asunto.\n\nDe: Ana. 2 de mayo. Asunto: viaje.",
     ["remitente", "fecha", "asunto"]),
    ("Extrahiere aus der folgenden Nachricht den Absender, das Datum und den Ort.\n\nVon Paul, am 3. Mai, in Köln.",
     ["Absender", "Datum", "Ort"]),
])
def test_fields_named_in_running_text(prompt, items):
    s = schema_of(prompt)
    assert s.passes and s.data == items


@pytest.mark.parametrize("prompt, items", [
    ('Read the ticket below and fill in this JSON:\n{"customer": "", "product": "", "issue": ""}\n\n'
     "Ticket: Marta says her Aero 2 headphones lost sound in the left ear.", ["customer", "product", "issue"]),
    ("Extract the details from the bio and answer in this format:\n<city></city>\n<employer></employer>\n\n"
     "Bio: Kofi lives in Accra and works for a solar start-up.", ["city", "employer"]),
    ('Extrae los datos del texto en este formato JSON: {"producto": "", "precio": ""}\n\nTexto: la lámpara '
     "Nube cuesta 25 euros.", ["producto", "precio"]),
    ("Remplis les champs à partir du texte :\nNom :\nVille :\nMétier :\n\nTexte : Léa, boulangère, vit à Rennes.",
     ["Nom", "Ville", "Métier"]),
    ('Return JSON with the keys "brand", "colour", "size" for this shoe: a red Nimbus trainer, size 42.',
     ["brand", "colour", "size"]),
])
def test_format_to_fill_gives_the_fields_and_is_not_an_item(prompt, items):
    s = schema_of(prompt)
    assert s.passes and s.data == items
    assert not any(d.startswith(("{", "<")) for d in s.data)


# --- short repeated generation --------------------------------------------------------------

@pytest.mark.parametrize("prompt, n", [
    ("Quickly write 4 taglines for a bakery.", 4),
    ("Creatively invent 3 names for a comet.", 3),
    ("Suggest 8+ activities for a snowy day.", 8),
    ("Dame 12+ ideas para una fiesta de disfraces.", 12),
    ("[INST] Generate 6 riddles about clocks [/INST]", 6),
    ("<task>Write 5 limericks about a goat.</task>", 5),
    ("System: you are a poet.\nUser: [compose 3 haiku about frost]", 3),
    ("Schnell: nenne 7 Ideen für ein Picknick.", 7),
])
def test_short_repeated_generation(prompt, n):
    s = schema_of(prompt)
    assert s.passes and s.n == n and s.data is None


# --- target languages and formats -------------------------------------------------------------

@pytest.mark.parametrize("prompt, items", [
    ('Translate "The shop opens at nine." into Dutch, Polish and Greek.', ["Dutch", "Polish", "Greek"]),
    ("Say 'good luck' in Italian, Korean and Turkish.", ["Italian", "Korean", "Turkish"]),
    ("Traduce «Me gusta el café» al inglés, al italiano y al alemán.", ["inglés", "italiano", "alemán"]),
    ("Traduis la phrase « Il pleut » en anglais, en russe et en chinois.", ["anglais", "russe", "chinois"]),
    ("Übersetze „Guten Appetit“ ins Englische, Italienische und Spanische.", ["Englische", "Italienische", "Spanische"]),
    ("Переведи «Спасибо за помощь» на английский, испанский и японский.", ["английский", "испанский", "японский"]),
    ("把“欢迎光临”翻译成英语、德语和韩语。", ["英语", "德语", "韩语"]),
    ("Convert this record to JSON, YAML and TOML: name=Ada, year=1815", ["JSON", "YAML", "TOML"]),
])
def test_set_of_targets_is_the_data(prompt, items):
    s = schema_of(prompt)
    assert s.passes and s.pattern == "targets" and s.data == items
    assert "{data}" in s.template


def test_a_single_target_is_not_a_set():
    assert not schema_of('Translate "see you tomorrow" into Portuguese.').passes


def test_target_set_compiles_one_branch_per_language():
    compiled = compile_prompt('Translate "Mind the gap" into French and Spanish.')
    assert compiled.parallel
    prompts = [compiled.graph.node(f"item-{k}").prompt for k in (1, 2)]
    assert "French" in prompts[0] and "Spanish" in prompts[1] and "Mind the gap" in prompts[0]


# --- the serial comma before the last field -------------------------------------------

@pytest.mark.parametrize("prompt, items", [
    ("Extract the salary, contract type, shift, and benefits from this job post: We pay 40k, full time, nights.",
     ["salary", "contract type", "shift", "benefits"]),
    ("Extrae el nombre, la fecha, y el lugar del siguiente texto: Ana llegó el lunes a Madrid.",
     ["nombre", "fecha", "lugar"]),
    ("Extrahiere den Namen, das Datum, und den Ort aus dem folgenden Text: Ana kam am Montag in Berlin an.",
     ["Namen", "Datum", "Ort"]),
])
def test_a_comma_before_the_conjunction_leaves_no_conjunction_on_the_last_field(prompt, items):
    schema = schema_of(prompt)
    assert schema.parallelizable and list(schema.data) == items
