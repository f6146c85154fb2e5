"""Language-assistance taglines for the notices Medicare Advantage, Medicaid and CHIP members get.

Sources:
- Medicare Advantage: the Multi-Language Insert, a CMS standardized communication that goes with
  every CMS-required material (42 CFR 422.2267(e)(31); Part D: 423.2267(e)(33)), in the fifteen
  languages that rule names. The wording follows the insert's; where the insert leaves a blank for
  the plan's telephone number, the taglines name the member services number on the ID card, as the
  rest of the letter does.
- Medicaid managed care: taglines in the prevalent non-English languages explaining that written
  translation and oral interpretation are free (42 CFR 438.10(d)(2)); CHIP managed care follows the
  same rule (42 CFR 457.1207). The same fifteen languages are used.

Kept as data, not typed into a template, so a plan can review the translations in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies_app.models import LineOfBusiness


@dataclass(frozen=True)
class Tagline:
    lang: str  # BCP 47 tag, for the page's lang attribute (screen readers, fonts)
    name: str  # the language named in English and in itself
    text: str
    rtl: bool = False


@dataclass(frozen=True)
class Taglines:
    heading: str
    english: str
    lines: tuple[Tagline, ...]
    source: str


HEADING = "Free language assistance"

ENGLISH = (
    "We have free interpreter services to answer any questions you may have about our health or drug plan "
    "or about this letter. To get an interpreter, just call the member services number on your member ID card. "
    "Someone who speaks your language can help you. This is a free service."
)

# The fifteen languages of 42 CFR 422.2267(e)(31), in the order the rule lists them.
TAGLINES: tuple[Tagline, ...] = (
    Tagline(
        "es",
        "Spanish (Español)",
        "Tenemos servicios de intérprete sin costo alguno para responder cualquier pregunta que pueda tener sobre "
        "nuestro plan de salud o medicamentos. Para hablar con un intérprete, llame al número de servicios para "
        "miembros que aparece en su tarjeta de identificación de miembro. Alguien que hable español le podrá "
        "ayudar. Este es un servicio gratuito.",
    ),
    Tagline(
        "zh-Hans",
        "Chinese (中文)",
        "我们提供免费的翻译服务，帮助您解答关于健康或药物保险的任何疑问。如果您需要此翻译服务，请致电您会员卡上的会员服务电话。"
        "我们的中文工作人员很乐意帮助您。这是一项免费服务。",
    ),
    Tagline(
        "tl",
        "Tagalog",
        "Mayroon kaming libreng serbisyo sa pagsasaling-wika upang masagot ang anumang mga katanungan ninyo "
        "hinggil sa aming planong pangkalusugan o panggamot. Upang makakuha ng tagasaling-wika, tawagan lamang "
        "ang numero ng serbisyo para sa miyembro na nasa inyong ID card. Maaari kayong tulungan ng isang "
        "nakakapagsalita ng Tagalog. Ito ay libreng serbisyo.",
    ),
    Tagline(
        "fr",
        "French (Français)",
        "Nous proposons des services gratuits d'interprétation pour répondre à toutes vos questions relatives à "
        "notre régime de santé ou d'assurance-médicaments. Pour accéder au service d'interprétation, il vous "
        "suffit d'appeler le service aux membres au numéro indiqué sur votre carte de membre. Un interlocuteur "
        "parlant français pourra vous aider. Ce service est gratuit.",
    ),
    Tagline(
        "vi",
        "Vietnamese (Tiếng Việt)",
        "Chúng tôi có dịch vụ thông dịch miễn phí để trả lời các câu hỏi về chương trình sức khỏe và chương "
        "trình thuốc men. Nếu quý vị cần thông dịch viên, xin gọi số dịch vụ hội viên ghi trên thẻ hội viên "
        "của quý vị; sẽ có nhân viên nói tiếng Việt giúp đỡ quý vị. Đây là dịch vụ miễn phí.",
    ),
    Tagline(
        "de",
        "German (Deutsch)",
        "Unser kostenloser Dolmetscherservice beantwortet Ihre Fragen zu unserem Gesundheits- und "
        "Arzneimittelplan. Unsere Dolmetscher erreichen Sie unter der Mitgliederservice-Nummer auf Ihrer "
        "Mitgliedskarte. Man wird Ihnen dort auf Deutsch weiterhelfen. Dieser Service ist kostenlos.",
    ),
    Tagline(
        "ko",
        "Korean (한국어)",
        "당사는 의료 보험 또는 약품 보험에 관한 질문에 답해 드리고자 무료 통역 서비스를 제공하고 있습니다. "
        "통역 서비스를 이용하려면 회원 카드에 있는 회원 서비스 번호로 전화해 주십시오. "
        "한국어를 하는 담당자가 도와 드릴 것입니다. 이 서비스는 무료로 운영됩니다.",
    ),
    Tagline(
        "ru",
        "Russian (Русский)",
        "Если у вас возникнут вопросы относительно страхового или медикаментного плана, вы можете "
        "воспользоваться нашими бесплатными услугами переводчиков. Чтобы воспользоваться услугами "
        "переводчика, позвоните в отдел обслуживания участников по номеру, указанному на вашей карте "
        "участника. Вам окажет помощь сотрудник, который говорит по-русски. Данная услуга бесплатная.",
    ),
    Tagline(
        "ar",
        "Arabic (العربية)",
        "إننا نقدم خدمات المترجم الفوري المجانية للإجابة عن أي أسئلة تتعلق بالصحة أو جدول الأدوية لدينا. "
        "للحصول على مترجم فوري، ليس عليك سوى الاتصال بنا على رقم خدمات الأعضاء المدوّن على بطاقة العضوية "
        "الخاصة بك. سيقوم شخص ما يتحدث العربية بمساعدتك. هذه خدمة مجانية.",
        rtl=True,
    ),
    Tagline(
        "it",
        "Italian (Italiano)",
        "È disponibile un servizio di interpretariato gratuito per rispondere a eventuali domande sul nostro "
        "piano sanitario e farmaceutico. Per un interprete, contattare il numero del servizio iscritti riportato "
        "sulla tessera di iscrizione. Un nostro incaricato che parla italiano vi fornirà l'assistenza "
        "necessaria. È un servizio gratuito.",
    ),
    Tagline(
        "pt",
        "Portuguese (Português)",
        "Dispomos de serviços de interpretação gratuitos para responder a qualquer questão que tenha acerca do "
        "nosso plano de saúde ou de medicação. Para obter um intérprete, contacte-nos através do número de "
        "apoio ao membro indicado no seu cartão de membro. Irá encontrar alguém que fale português para o "
        "ajudar. Este serviço é gratuito.",
    ),
    Tagline(
        "ht",
        "French Creole (Kreyòl ayisyen)",
        "Nou genyen sèvis entèprèt gratis pou reponn tout kesyon ou ta genyen konsènan plan medikal oswa dwòg "
        "nou an. Pou jwenn yon entèprèt, jis rele nimewo sèvis manm ki sou kat manm ou an. Yon moun ki pale "
        "Kreyòl kapab ede w. Sa a se yon sèvis ki gratis.",
    ),
    Tagline(
        "pl",
        "Polish (Polski)",
        "Umożliwiamy bezpłatne skorzystanie z usług tłumacza ustnego, który pomoże w uzyskaniu odpowiedzi na "
        "temat planu zdrowotnego lub dawkowania leków. Aby skorzystać z pomocy tłumacza znającego język "
        "polski, należy zadzwonić pod numer obsługi członków podany na karcie członkowskiej. Ta usługa jest "
        "bezpłatna.",
    ),
    Tagline(
        "hi",
        "Hindi (हिन्दी)",
        "हमारे स्वास्थ्य या दवा की योजना के बारे में आपके किसी भी प्रश्न के जवाब देने के लिए हमारे पास मुफ्त "
        "दुभाषिया सेवाएं उपलब्ध हैं। एक दुभाषिया प्राप्त करने के लिए, बस अपने सदस्य पहचान पत्र पर दिए गए "
        "सदस्य सेवा नंबर पर फोन करें। कोई व्यक्ति जो हिन्दी बोलता है आपकी मदद कर सकता है। यह एक मुफ्त सेवा है।",
    ),
    Tagline(
        "ja",
        "Japanese (日本語)",
        "当社の健康保険と処方薬プランに関するご質問にお答えするために、無料の通訳サービスがございます。"
        "通訳をご用命になるには、会員証に記載の会員サービス番号にお電話ください。"
        "日本語を話す者が支援いたします。これは無料のサービスです。",
    ),
)

SOURCES: dict[str, str] = {
    LineOfBusiness.MEDICARE_ADVANTAGE: "42 CFR 422.2267(e)(31) (Multi-Language Insert)",
    LineOfBusiness.MEDICAID: "42 CFR 438.10(d)(2)",
    LineOfBusiness.CHIP: "42 CFR 457.1207; 42 CFR 438.10(d)(2)",
}


def taglines_for(line_of_business: str) -> Taglines | None:
    """The taglines a member notice of this line of business carries, or None where none is required."""
    source = SOURCES.get(line_of_business)
    if source is None:
        return None
    return Taglines(heading=HEADING, english=ENGLISH, lines=TAGLINES, source=source)
