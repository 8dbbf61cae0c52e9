"""Small word lists the simulator draws from with numpy, so names and texts look real without Faker.

Index-based on purpose: the state keeps indices into these tuples, never strings, so never reorder or
remove entries (append only) or a continued world would change its past.
"""

from __future__ import annotations

import unicodedata

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Klara", "Lukas",
    "Marie", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Sophie", "Theo", "Ursula", "Victor", "Wiebke",
    "Xavier", "Yara", "Zoë", "Lucas", "Léa", "Chloé", "Louis", "Jules", "Inès", "Mila", "Sem", "Daan",
    "Julia", "Liam", "Oliver", "Amelia", "Isla", "George", "Harry", "Lucía", "Mateo", "Sofía", "Giulia",
    "Leonardo", "Francesca", "Matteo", "Zofia", "Jakub", "Maja", "Elsa", "Erik", "Astrid", "Lena", "Finn",
    "Noor", "Emil", "Hannah",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Martin", "Bernard",
    "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "de Jong", "Jansen", "de Vries", "Bakker",
    "Visser", "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "García", "Fernández", "López",
    "Martínez", "Sánchez", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Gruber", "Huber", "Peeters",
    "Janssens", "Maes", "Nowak", "Kowalski", "Wiśniewski", "Andersson", "Johansson", "Karlsson", "Nilsson",
    "O'Brien", "Kelly", "Novak", "Horvat", "Costa", "Silva", "Lambert", "Moreau", "Laurent", "Simon",
    "Keller",
)  # fmt: skip

#: ISO2 country, browser locale, phone prefix; weights are the share of customers.
COUNTRIES: tuple[str, ...] = ("DE", "FR", "NL", "GB", "ES", "IT", "AT", "BE", "PL", "SE")
COUNTRY_WEIGHTS: tuple[float, ...] = (0.28, 0.16, 0.09, 0.14, 0.09, 0.09, 0.05, 0.04, 0.04, 0.02)
LOCALES: tuple[str, ...] = (
    "de-DE",
    "fr-FR",
    "nl-NL",
    "en-GB",
    "es-ES",
    "it-IT",
    "de-AT",
    "nl-BE",
    "pl-PL",
    "sv-SE",
)
PHONE_PREFIXES: tuple[str, ...] = ("+49", "+33", "+31", "+44", "+34", "+39", "+43", "+32", "+48", "+46")

CITIES: tuple[tuple[str, ...], ...] = (
    ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig"),
    ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille"),
    ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen"),
    ("London", "Manchester", "Bristol", "Leeds", "Edinburgh", "Cardiff"),
    ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga"),
    ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze"),
    ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck", "Klagenfurt"),
    ("Bruxelles", "Antwerpen", "Gent", "Liège", "Brugge", "Leuven"),
    ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań", "Łódź"),
    ("Stockholm", "Göteborg", "Malmö", "Uppsala", "Lund", "Umeå"),
)

STREETS: tuple[tuple[str, ...], ...] = (
    ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße"),
    ("Rue de la Paix", "Avenue Victor Hugo", "Rue du Moulin", "Boulevard Voltaire"),
    ("Keizersgracht", "Dorpsstraat", "Kerkstraat", "Molenweg"),
    ("High Street", "Station Road", "Church Lane", "Victoria Road"),
    ("Calle Mayor", "Gran Vía", "Calle del Sol", "Avenida de la Constitución"),
    ("Via Roma", "Corso Italia", "Via Garibaldi", "Via Dante"),
    ("Ringstraße", "Mariahilfer Straße", "Landstraße", "Kirchengasse"),
    ("Rue Neuve", "Kerkstraat", "Avenue Louise", "Stationsstraat"),
    ("ulica Długa", "ulica Polna", "ulica Lipowa", "aleja Jana Pawła II"),
    ("Drottninggatan", "Storgatan", "Kungsgatan", "Skolgatan"),
)

EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "orange.fr", "hotmail.com", "proton.me",
    "icloud.com", "posteo.de",
)  # fmt: skip

CATEGORIES: tuple[str, ...] = (
    "Books", "Electronics", "Home & Kitchen", "Garden", "Toys", "Sports", "Beauty", "Fashion", "Shoes",
    "Grocery", "Pet Supplies", "Office",
)  # fmt: skip

#: Typical price (in cents) per category: products are priced lognormally around it.
CATEGORY_PRICE_CENTS: tuple[int, ...] = (
    1499,
    8999,
    3499,
    2999,
    2499,
    3999,
    1999,
    4499,
    7999,
    699,
    1899,
    1299,
)

PRODUCT_NOUNS: tuple[tuple[str, ...], ...] = (
    ("Novel", "Cookbook", "Atlas", "Notebook Edition", "Poetry Collection"),
    ("Headphones", "Charger", "Speaker", "Smartwatch", "Keyboard"),
    ("Kettle", "Frying Pan", "Knife Set", "Coffee Grinder", "Toaster"),
    ("Hose", "Planter", "Pruning Shears", "Bird Feeder", "Garden Chair"),
    ("Puzzle", "Building Set", "Plush Bear", "Board Game", "Kite"),
    ("Yoga Mat", "Dumbbell", "Water Bottle", "Tennis Racket", "Running Belt"),
    ("Face Cream", "Shampoo", "Perfume", "Lip Balm", "Hair Dryer"),
    ("T-Shirt", "Jacket", "Scarf", "Jeans", "Hoodie"),
    ("Sneakers", "Boots", "Sandals", "Loafers", "Slippers"),
    ("Coffee Beans", "Green Tea", "Olive Oil", "Dark Chocolate", "Pasta"),
    ("Dog Food", "Cat Toy", "Leash", "Pet Bed", "Litter"),
    ("Pen Set", "Desk Lamp", "Stapler", "Planner", "Backpack"),
)

PRODUCT_ADJECTIVES: tuple[str, ...] = (
    "Classic", "Compact", "Deluxe", "Eco", "Essential", "Everyday", "Pro", "Smart", "Ultra", "Vintage",
    "Wireless", "Premium", "Organic", "Portable", "Heavy-Duty", "Nordic",
)  # fmt: skip

SEARCH_TERMS: tuple[str, ...] = (
    "shoes", "headphones", "coffee", "lamp", "gift ideas", "yoga mat", "book", "charger", "backpack", "sale",
    "dog food", "green tea", "jacket", "board game", "kettle", "sneakers size 42",
)  # fmt: skip

#: (device, platform) a visit uses; weights are the share of human sessions.
DEVICE_PLATFORMS: tuple[tuple[str, str], ...] = (
    ("desktop", "web"),
    ("mobile", "web"),
    ("tablet", "web"),
    ("mobile", "ios"),
    ("mobile", "android"),
    ("tablet", "ios"),
)
DEVICE_PLATFORM_WEIGHTS: tuple[float, ...] = (0.45, 0.20, 0.05, 0.15, 0.12, 0.03)

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
USER_AGENTS: tuple[tuple[str, ...], ...] = (
    (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/124.0 Safari/537.36",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) {_SAFARI} Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_WEBKIT} Chrome/124.0 Safari/537.36 Edg/124.0",
    ),
    (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) {_SAFARI} Mobile/15E148 Safari/604.1",
        f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} Chrome/124.0 Mobile Safari/537.36",
    ),
    (f"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) {_SAFARI} Mobile/15E148 Safari/604.1",),
    ("ShopApp/{version} (iPhone; iOS 17.4; Scale/3.00)",),
    ("ShopApp/{version} (Linux; Android 14; Pixel 8)",),
    ("ShopApp/{version} (iPad; iOS 17.4; Scale/2.00)",),
)

SCREENS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((1920, 1080), (1366, 768), (1536, 864), (2560, 1440)),
    ((390, 844), (412, 915), (375, 667)),
    ((820, 1180), (768, 1024)),
    ((390, 844), (393, 852), (430, 932)),
    ((412, 915), (360, 800), (384, 854)),
    ((820, 1180), (1024, 1366)),
)

#: Crawlers that say what they are.
BOT_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
)


def ascii_slug(text: str) -> str:
    """Lowercase ASCII for e-mail local parts: 'Wiśniewski' -> 'wisniewski', "O'Brien" -> 'obrien'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


FIRST_SLUGS: tuple[str, ...] = tuple(ascii_slug(n) for n in FIRST_NAMES)
LAST_SLUGS: tuple[str, ...] = tuple(ascii_slug(n) for n in LAST_NAMES)
