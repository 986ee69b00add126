"""Personal data as people type it, and ordinary numbers that must survive.

PERSONAL: (question, expected text after redaction, counts removed, the personal values it holds).
The values are what must never reach S3, the log or a trace, in any formatting: the digit checks
compare digits only, so `4111.1111.1111.1111` and `4111111111111111` are the same value.
"""

from __future__ import annotations

NBSP, THIN = "\u00a0", "\u2009"

PERSONAL = [
    # Cards: length and Luhn, in any grouping and with any separator.
    ("Mi tarjeta es 4111 1111 1111 1111, ¿tengo descuento en Coto?",
     "Mi tarjeta es [CARD], ¿tengo descuento en Coto?", {"CARD": 1}, ["4111111111111111"]),
    ("me cobraron mal con la 4111-1111-1111-1111 el martes", "me cobraron mal con la [CARD] el martes",
     {"CARD": 1}, ["4111111111111111"]),
    ("pagué con la 4111.1111.1111.1111 en Carrefour", "pagué con la [CARD] en Carrefour", {"CARD": 1},
     ["4111111111111111"]),
    ("la 4111  1111  1111  1111 no anda", "la [CARD] no anda", {"CARD": 1}, ["4111111111111111"]),
    ("la 4111/1111/1111/1111 o la 4111_1111_1111_1111?", "la [CARD] o la [CARD]?", {"CARD": 2},
     ["4111111111111111"]),
    (f"uso la 5031 7557-3453.0604 y la 4111{NBSP}1111{NBSP}1111{THIN}1111",
     "uso la [CARD] y la [CARD]", {"CARD": 2}, ["5031755734530604", "4111111111111111"]),
    ("la amex 3714 496353 98431 no me hizo el reintegro", "la amex [CARD] no me hizo el reintegro",
     {"CARD": 1}, ["371449635398431"]),
    ("pagué con 5031755734530604 y no vi el 20%", "pagué con [CARD] y no vi el 20%", {"CARD": 1},
     ["5031755734530604"]),
    ("pagué con ４１１１ １１１１ １１１１ １１１１ en Jumbo", "pagué con [CARD] en Jumbo", {"CARD": 1},
     ["4111111111111111"]),  # full-width digits: NFKC first
    ("tarjeta 4111 1111 1111 1112 rechazada", "tarjeta [CARD] rechazada", {"CARD": 1},
     ["4111111111111112"]),  # the keyword wins over a failed Luhn check
    # DNI: every grouping; the keyword wins over the money heuristic.
    ("Mi DNI es 30.123.456, ¿qué beneficios tengo?", "Mi DNI es [DNI], ¿qué beneficios tengo?", {"DNI": 1},
     ["30123456"]),
    ("soy el 30 123 456 y no me llega", "soy el [DNI] y no me llega", {"DNI": 1}, ["30123456"]),
    ("documento 30-123-456 gracias", "documento [DNI] gracias", {"DNI": 1}, ["30123456"]),
    ("dni 7654321 y no me llega la promo", "dni [DNI] y no me llega la promo", {"DNI": 1}, ["7654321"]),
    ("mi número es 7.654.321 ¿Carrefour?", "mi número es [DNI] ¿Carrefour?", {"DNI": 1}, ["7654321"]),
    ("DNI 30123456 mil gracias", "DNI [DNI] mil gracias", {"DNI": 1}, ["30123456"]),
    ("D.N.I. 30123456 ¿hay cuotas?", "D.N.I. [DNI] ¿hay cuotas?", {"DNI": 1}, ["30123456"]),
    # CUIT/CUIL: the check digit.
    ("soy monotributista, CUIT 20-12345678-6, ¿hay cuotas?", "soy monotributista, CUIT [CUIT], ¿hay cuotas?",
     {"CUIT": 1}, ["20123456786"]),
    ("mi cuil es 27334455667", "mi cuil es [CUIT]", {"CUIT": 1}, ["27334455667"]),
    ("la empresa 30-71234567-1 tiene tarjeta corporativa", "la empresa [CUIT] tiene tarjeta corporativa",
     {"CUIT": 1}, ["30712345671"]),
    ("el 20 30123456 3 es mío", "el [CUIT] es mío", {"CUIT": 1}, ["20301234563"]),
    ("cuit 20-12345678-7 (mal tipeado)", "cuit [CUIT] (mal tipeado)", {"CUIT": 1}, ["20123456787"]),
    # CBU/CVU: 22 digits, both check digits.
    ("te paso el 0170099222000006789011 para el reintegro", "te paso el [CBU] para el reintegro", {"CBU": 1},
     ["0170099222000006789011"]),
    ("cvu 0000003 1100012345678 98", "cvu [CBU]", {"CBU": 1}, ["0000003110001234567898"]),
    ("mi cbu 01700992-22000006789011.", "mi cbu [CBU].", {"CBU": 1}, ["0170099222000006789011"]),
    ("alias: casa.perro.sol y listo", "alias: [ALIAS] y listo", {"ALIAS": 1}, ["casa.perro.sol"]),
    # E-mails: spaces around the sign, (at), full-width, every local-part character.
    ("escribanme a juan.perez+promos@gmail.com por el reintegro", "escribanme a [EMAIL] por el reintegro",
     {"EMAIL": 1}, ["juan.perez+promos", "juan.perez+promos@gmail.com"]),
    ("mail juan @ gmail.com gracias", "mail [EMAIL] gracias", {"EMAIL": 1}, ["juan @ gmail.com"]),
    ("juanperez(at)gmail.com o juanperez [at] hotmail.com", "[EMAIL] o [EMAIL]", {"EMAIL": 2},
     ["juanperez"]),
    ("juanperez＠gmail.com", "[EMAIL]", {"EMAIL": 1}, ["juanperez"]),
    ("o'connor.ana@empresa.com.ar", "[EMAIL]", {"EMAIL": 1}, ["o'connor", "connor.ana"]),
    ("ana%ventas@empresa.com, ¿sirve?", "[EMAIL], ¿sirve?", {"EMAIL": 1}, ["ana%ventas", "ventas@"]),
    ("x!#$&*=?^`{|}~-y@empresa.com", "[EMAIL]", {"EMAIL": 1}, ["x!#$&*=?^`{|}~-y"]),
    ("juanperez arroba gmail punto com", "[EMAIL]", {"EMAIL": 1}, ["juanperez"]),
    # Phones: +54 9, 0054, 011, 15, hyphens, dots, parentheses, sentence-final punctuation.
    ("llamame al +54 9 11 2345-6789 para lo de YPF", "llamame al [PHONE] para lo de YPF", {"PHONE": 1},
     ["23456789"]),
    ("mi cel 11 15 2345 6789, ¿Carrefour los miércoles?", "mi cel [PHONE], ¿Carrefour los miércoles?",
     {"PHONE": 1}, ["23456789"]),
    ("es el 11-15-2345-6789", "es el [PHONE]", {"PHONE": 1}, ["23456789"]),
    ("tel (0351) 456-7890, ¿hay descuento en farmacias?", "tel [PHONE], ¿hay descuento en farmacias?",
     {"PHONE": 1}, ["4567890"]),
    ("whatsapp 1123456789", "whatsapp [PHONE]", {"PHONE": 1}, ["1123456789"]),
    ("llamame al 1123456789.", "llamame al [PHONE].", {"PHONE": 1}, ["1123456789"]),
    ("o al 0054 9 351 456 7890!", "o al [PHONE]!", {"PHONE": 1}, ["4567890"]),
    ("el 011 4567-8901?", "el [PHONE]?", {"PHONE": 1}, ["45678901"]),
    ("al 11.2345.6789 de tarde", "al [PHONE] de tarde", {"PHONE": 1}, ["23456789"]),
    ("el 15 4567-8901 es mío", "el [PHONE] es mío", {"PHONE": 1}, ["45678901"]),
    ("(0351) 15 456-7890", "[PHONE]", {"PHONE": 1}, ["4567890"]),
    ("fijo 4567-8901 por la tarde", "fijo [PHONE] por la tarde", {"PHONE": 1}, ["45678901"]),
    ("cel: 3415 123456", "cel: [PHONE]", {"PHONE": 1}, ["123456"]),
    # Several at once, and next to each other.
    ("Soy Ana, DNI 28.765.432, mail ana@empresa.com.ar, tarjeta 4111111111111111 y cel +5491123456789",
     "Soy Ana, DNI [DNI], mail [EMAIL], tarjeta [CARD] y cel [PHONE]",
     {"DNI": 1, "EMAIL": 1, "CARD": 1, "PHONE": 1}, ["28765432", "ana@", "4111111111111111", "23456789"]),
    ("datos: 28.765.432 - 4111 1111 1111 1111", "datos: [DNI] - [CARD]", {"CARD": 1, "DNI": 1},
     ["28765432", "4111111111111111"]),
]

# Numbers that are not personal: kept word for word.
NEAR_MISSES = [
    "¿El 20% de descuento en Carrefour tiene tope?",
    "¿Hay 6 cuotas sin interés en Frávega el 15/03/2025?",
    "¿Vale el 2025-03-15 o el 15.03.2025?",
    "¿El descuento vale en la sucursal 1234 de Coto?",
    "¿Y en la sucursal nro 123456?",
    "¿Cuál es el tope de $ 15.000 por mes en YPF?",
    "si gasto $1.500.000 en el viaje, ¿cuánto me devuelven?",
    "gasté 2.500.000 pesos en electro, ¿aplica el 30%?",
    "¿y con 12.500.000 mil?",
    "un total de 1.234.567,50 en el resumen",
    "¿Sirve el número 4111 1111 1111 1112 que me dieron?",  # 16 digits, not Luhn-valid, no keyword
    "¿Los miércoles 25% en Carrefour o 35% en Jumbo?",
    "¿El reintegro llega en 48 hs o en 30 días?",
    "¿Hasta el 31-12 vale la promo de 3 cuotas?",
    "¿Abren a las 10:30 o a las 21.30 hs?",
    "¿Hay descuento en el local 45 del Unicenter?",
    "quiero saber por el código 2024 de la promo",
    "¿El código PROMO2024 o COMAFI25 sirve?",
    "el cupón 12345678 no funciona",
    "llamé al 0800-333-2662 y no atienden",
    "el 0810 222 1234 del banco",
    "tel 0800 444 1234 de atención",
    "tarjeta terminada en 1234, ¿tiene el 25%?",
    "¿Hay 12 cuotas de $ 12.345?",
    "el alias no me funciona",
    "compré 3 cosas por 4500 y 2 por 12000",
]
