"""Each pattern family, in English and in Chinese, Japanese, Spanish, French, German and Russian."""

from __future__ import annotations

import pytest

from graphs.compiler import Category, Tier, detect_language, extract_rules, validate


def compiled_schema(prompt: str):
    return validate(extract_rules(prompt))


# --- pattern families (English) ---------------------------------------------

def test_numbered_list_with_passage_after():
    s = compiled_schema(
        "Answer the questions about the text below:\n1. Who is the hero?\n2. Where does it happen?\n"
        "3. How does it end?\n\nOnce upon a time a fox lived in a forest near a river. One day it met a crow "
        "holding a piece of cheese."
    )
    assert s.validation_tier is Tier.HIGH
    assert s.data == ["Who is the hero?", "Where does it happen?", "How does it end?"]
    assert s.context.startswith("Once upon a time")
    assert s.template == "Answer the questions about the text below:\n{data}\n\n{context}"
    assert s.category == Category.READING_COMPREHENSION


def test_bulleted_list():
    s = compiled_schema("Rate each sentence from 1 to 10 for fluency:\n- The book is brown.\n- The book are brown.\n"
                        "- Brown the book is.")
    assert s.data == ["The book is brown.", "The book are brown.", "Brown the book is."]
    assert s.passes


def test_line_separated_items_after_colon():
    s = compiled_schema("Translate the following sentences into German:\nGood morning.\nWhere is the station?\n"
                        "I like green tea.")
    assert s.data == ["Good morning.", "Where is the station?", "I like green tea."]
    assert s.category == Category.TRANSLATION


def test_comma_list_after_colon():
    s = compiled_schema("Give a synonym for each of these words: happy, fast, small, cold")
    assert s.data == ["happy", "fast", "small", "cold"]
    assert s.template == "Give a synonym for each of these words: {data}"


def test_semicolon_list_after_colon():
    s = compiled_schema("Correct the spelling of these words: recieve; seperate; definately")
    assert s.data == ["recieve", "seperate", "definately"]
    assert s.category == Category.LANGUAGE_CORRECTION


def test_inline_extraction_list():
    s = compiled_schema("Extract the name, the age, the city and the job from the following text: "
                        "Maria, 34, works as a nurse in Lyon.")
    assert s.data == ["name", "age", "city", "job"]
    assert s.context == "Maria, 34, works as a nurse in Lyon."
    assert s.category == Category.KEYWORD_EXTRACTION


def test_quoted_list():
    s = compiled_schema('Translate "good night", "thank you" and "see you soon" into Italian.')
    assert s.data == ["good night", "thank you", "see you soon"]
    assert s.category == Category.TRANSLATION


@pytest.mark.parametrize("prompt, n", [
    ("Generate 10 variations of a room description for a cozy attic.", 10),
    ("Give me five ideas for a birthday party.", 5),
    ("Write 3 examples of similes about the sea.", 3),
    ("Can you come up with 12 questions about World War II?", 12),
    ("Generate 10 more examples of polite refusals.", 10),
])
def test_count_of_new_things(prompt, n):
    s = compiled_schema(prompt)
    assert s.n == n and s.data is None
    assert "{n}" in s.template
    assert s.category == Category.REPEATED_GENERATION


def test_for_each_list_wins_over_other_structures():
    s = compiled_schema("For each of the following cities, name one famous dish: Rome, Tokyo, Lima")
    assert s.data == ["Rome", "Tokyo", "Lima"]


def test_several_questions_in_one_paragraph():
    s = compiled_schema("What is the boiling point of water at sea level? Who painted the Mona Lisa in Florence? "
                        "How many moons does the planet Mars have?")
    assert s.count == 3 and s.pattern == "questions"
    assert s.validation_tier is Tier.MEDIUM  # no instruction of its own: the questions are the whole prompt
    assert s.reasons == ("template has no instruction text of its own",
                         "items inferred from several questions in running text")


def test_inline_numbered_questions():
    s = compiled_schema("Answer in short: 1. What is DNA? 2. What is RNA? 3. What is a gene?")
    assert s.data == ["What is DNA?", "What is RNA?", "What is a gene?"]


# --- other languages ---------------------------------------------------------

@pytest.mark.parametrize("prompt, language, expected", [
    ("请为一家咖啡店写10个广告标语。", "zh", 10),
    ("猫についての俳句を5つ作ってください。", "ja", 5),
    ("Dame 5 ideas para una fiesta de cumpleaños.", "es", 5),
    ("Donne-moi cinq idées de cadeaux pour un ami.", "fr", 5),
    ("Schreibe 4 kurze Gedichte über den Herbst.", "de", 4),
    ("Придумай 6 названий для кофейни.", "ru", 6),
])
def test_counts_in_other_languages(prompt, language, expected):
    s = compiled_schema(prompt)
    assert s.language == language
    assert s.n == expected and s.passes


@pytest.mark.parametrize("prompt, language, items", [
    ("请回答以下问题：\n1. 中国的首都是哪里？\n2. 长城有多长？\n3. 熊猫吃什么？", "zh", 3),
    ("次の質問に答えてください。\n1. 日本の首都はどこですか？\n2. 富士山の高さは？\n3. 桜はいつ咲きますか？", "ja", 3),
    ("Responde a las siguientes preguntas:\n- ¿Cuál es la capital de Perú?\n- ¿Quién escribió el Quijote?", "es", 2),
    ("Traduisez les phrases suivantes en anglais :\n1. Bonjour.\n2. Merci beaucoup.\n3. À demain.", "fr", 3),
    ("Beantworte die folgenden Fragen:\n1. Wie hoch ist die Zugspitze?\n2. Wer schrieb Faust?", "de", 2),
    ("Ответь на следующие вопросы:\n1. Какая столица России?\n2. Кто написал «Войну и мир»?", "ru", 2),
])
def test_lists_in_other_languages(prompt, language, items):
    s = compiled_schema(prompt)
    assert s.language == language
    assert s.data is not None and len(s.data) == items and s.passes


@pytest.mark.parametrize("prompt, items", [
    ("从下面的文本中提取姓名、地址和电话号码：张三住在北京，电话是123。", ["姓名", "地址", "电话号码"]),
    ("以下の文章から名前、住所、電話番号を抽出してください：山田さんは東京に住んでいます。", ["名前", "住所", "電話番号"]),
    ("Extrae el nombre, la edad y la ciudad del siguiente texto: Ana tiene 30 años y vive en Quito.",
     ["nombre", "edad", "ciudad"]),
    ("Extrais le nom, l'âge et la ville du texte suivant : Paul a 40 ans et vit à Nantes.",
     ["nom", "âge", "ville"]),
    ("Extrahiere Name, Alter und Stadt aus dem folgenden Text: Jonas ist 25 und wohnt in Bremen.",
     ["Name", "Alter", "Stadt"]),
    ("Извлеки имя, возраст и город из следующего текста: Иван, 30 лет, живёт в Казани.",
     ["имя", "возраст", "город"]),
])
def test_inline_lists_in_other_languages(prompt, items):
    s = compiled_schema(prompt)
    assert s.data == items and s.passes


def test_language_detection():
    assert detect_language("What is the weather like today?") == "en"
    assert detect_language("¿Qué tiempo hace hoy en la ciudad?") == "es"
    assert detect_language("Quel temps fait-il aujourd'hui dans la ville ?") == "fr"
    assert detect_language("Wie ist das Wetter heute in der Stadt?") == "de"
    assert detect_language("Какая сегодня погода?") == "ru"
    assert detect_language("今天天气怎么样？") == "zh"
    assert detect_language("今日の天気はどうですか？") == "ja"


# --- things that are not parallel -------------------------------------------------

@pytest.mark.parametrize("prompt", [
    "How can I improve my time management skills?",
    "Write a program to find the nth Fibonacci number using dynamic programming.",
    "David has three sisters. Each of them has one brother. How many brothers does David have?",
    "Which situation should the aides report?\na) A girl sits alone.\nb) Two boys argue.\nc) A boy runs.",
    "Write a 500-word essay about the ocean.",
    "She bought 5 apples and 3 pears. How many fruits does she have?",
    "What are the 3 branches of government?",
])
def test_single_tasks_are_rejected(prompt):
    assert not compiled_schema(prompt).passes


def test_count_inside_code_is_not_repeated_generation():
    s = compiled_schema("Write a python function that will generate 6 random numbers between 1 and 100.")
    assert not s.passes
    assert "program" in s.reasons[0]


def test_rules_list_is_context_not_data():
    s = compiled_schema("Generate 3 slogans for a gym. Rules:\n1. Short.\n2. No emojis.\n3. Mention strength.")
    assert s.n == 3 and s.data is None


def test_labelled_numbering():
    s = compiled_schema("Classify the sentiment of each review as positive or negative:\nReview 1: Great food.\n"
                        "Review 2: Terrible service.\nReview 3: Would come again.")
    assert s.data == ["Great food.", "Terrible service.", "Would come again."]
    assert s.category == Category.SENTIMENT_ANALYSIS


def test_paragraph_items_after_for_each():
    s = compiled_schema("For each of the following products, write a one-line tagline.\n\n"
                        "A steel bottle that keeps drinks cold for a day.\n\nA foldable yoga mat made of rubber.\n\n"
                        "Wireless earbuds with a long battery life.")
    assert s.count == 3 and s.passes


@pytest.mark.parametrize("prompt, n", [
    ("What are 5 ways to save money as a student?", 5),
    ("Quels sont 3 exemples de verbes irréguliers ?", 3),
    ("I need 5 catchy names for my bakery.", 5),
    ("List the top 10 tourist attractions in Paris.", 10),
])
def test_more_count_phrasings(prompt, n):
    assert compiled_schema(prompt).n == n


@pytest.mark.parametrize("prompt", [
    "Arrange these weapons from oldest to newest:\nSword\nRifle\nHand axe",
    'Which fruits are candied?\n\n' + "Dried fruit is old. " * 20 + 'Some are called "conventional" or "traditional".',
])
def test_one_operation_over_all_items_is_not_parallel(prompt):
    assert not compiled_schema(prompt).passes


def test_multi_line_paragraph_items():
    s = compiled_schema("Summarize each of the following articles in one sentence.\n\nThe council met on Monday.\n"
                        "It voted to build a park.\n\nA storm hit the coast.\nThousands lost power.")
    assert s.pattern == "paragraphs"
    assert s.data == ["The council met on Monday. It voted to build a park.", "A storm hit the coast. Thousands lost power."]


def test_extraction_list_ending_in_from_colon():
    s = compiled_schema("Extract all person names, organizations and locations from: Tim Cook met Macron in Paris.")
    assert s.data == ["person names", "organizations", "locations"]
    assert s.context == "Tim Cook met Macron in Paris."


@pytest.mark.parametrize("prompt, n", [("Escreva 5 frases sobre o mar.", 5), ("Scrivi 3 poesie sul mare.", 3)])
def test_counts_in_portuguese_and_italian(prompt, n):
    assert compiled_schema(prompt).n == n


def test_number_words_that_are_english_words_do_not_count():
    assert not compiled_schema("Give due credit to the authors of the study.").passes


def test_numbers_merged_on_one_line_and_slash_markers():
    s = compiled_schema("Answer these questions:\n1/ What is DNA? 2/ What is RNA?\n3/What is a gene?")
    assert s.data == ["What is DNA?", "What is RNA?", "What is a gene?"]


def test_lines_inside_code_blocks_are_never_items():
    s = compiled_schema("Can you find the bug in this function?\n\n```\ndef f(a, b):\n    x = a + 1\n    y = b + 2\n"
                        "    return x * y\n```")
    assert not s.passes


def test_heading_inside_a_block_starts_the_items():
    s = compiled_schema("I have a text and some questions about it.\nQuestions:\nWho called?\nWhy did they call?\n"
                        "When will they call back?\n\ntext:\nAnna called on Monday because her order was late. "
                        "She said she would call again on Friday if it had not arrived by then.")
    assert s.data == ["Who called?", "Why did they call?", "When will they call back?"]
    assert s.context.startswith("text:") or s.context.startswith("Anna")


def test_quoted_lines_after_a_question_that_introduces_them():
    s = compiled_schema('What is the sentiment of the following tweets?\n"I love this phone"\n"Worst day ever"\n'
                        '"Meh, it\'s fine"')
    assert s.data == ["I love this phone", "Worst day ever", "Meh, it's fine"]
    assert s.category == Category.SENTIMENT_ANALYSIS
